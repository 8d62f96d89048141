"""The evaluation metrics file of a cell (`metrics/**/eval/.../seed<s>.json`): one typed record
that every writer (the cell runner) and every reader (report, study analyses) uses. Light: no
torch import."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from xstilts.core.paths import write_json

# what a study family adds to the record (absent from the file when not set)
EXTRAS = ("fraction", "train_examples", "variant", "intermediate_task",
          "intermediate_languages", "model", "family", "params_non_embedding")


class EvalRecordError(ValueError):
    """An evaluation metrics file that is not JSON or not an evaluation record."""


class EvalRecord(BaseModel):
    """Zero-shot scores of one cell: {lang: {metric: value}} and the averages of the main
    metric over the non-English languages and over all languages."""

    model_config = ConfigDict(extra="forbid")

    itask: str
    target: str
    seed: int
    metric: str
    languages: dict[str, dict[str, int | float]]
    avg_non_en: float | None
    avg_all: float
    label_piece: str | None = None  # a tagging cell's alignment (which sub-word was tagged)
    # study families
    fraction: float | None = None  # volume: the fraction of the intermediate train split
    train_examples: int | None = None  # volume: intermediate training examples
    variant: str | None = None  # multilingual
    intermediate_task: str | None = None  # multilingual: the variant's task
    intermediate_languages: list[str] | None = None  # multilingual: the variant's languages
    model: str | None = None  # scaling: the base model key
    family: str | None = None  # scaling: encoder | decoder
    params_non_embedding: int | None = None  # scaling: Kaplan's N

    @classmethod
    def of(cls, itask: str, target: str, seed: int, metric: str, scores: dict,
           **extras) -> EvalRecord:
        """The record of `scores` ({lang: {metric: value}}), averages computed here."""
        non_en = [s[metric] for lang, s in scores.items() if lang != "en"]
        every = [s[metric] for s in scores.values()]
        return cls(itask=itask, target=target, seed=seed, metric=metric, languages=scores,
                   avg_non_en=_mean(non_en) if non_en else None, avg_all=_mean(every),
                   **extras)

    def score(self, lang: str) -> float:
        """The main metric in `lang`."""
        return float(self.languages[lang][self.metric])

    def as_json(self) -> dict:
        unset = {k for k in ("label_piece", *EXTRAS) if getattr(self, k) is None}
        return self.model_dump(exclude=unset)

    def write(self, path: Path) -> None:
        write_json(path, self.as_json())

    @classmethod
    def read(cls, path: Path) -> EvalRecord:
        path = Path(path)
        try:
            return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise FileNotFoundError(f"missing evaluation metrics {path} (run its target "
                                    "stage)") from None
        except json.JSONDecodeError as e:
            raise EvalRecordError(f"{path}: not JSON (line {e.lineno}: {e.msg}); delete it and "
                                  "re-run its target stage") from None
        except ValidationError as e:
            err = e.errors()[0]
            field = ".".join(str(x) for x in err["loc"])
            raise EvalRecordError(f"{path}: not an evaluation record ({field}: {err['msg']}); "
                                  "re-run its target stage") from None


def _mean(values: list) -> float:
    import numpy as np

    return float(np.mean(values))
