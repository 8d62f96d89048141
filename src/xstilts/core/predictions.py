"""Per-example prediction files of the evaluate and retrieve stages.

One JSON file per cell, seed and language: ``predictions/<itask>/<target>/seed<s>/<lang>.json``::

    {"task": "xcat_tag", "type": "tagging", "lang": "de", "split": "test", "itask": "none",
     "seed": 0, "metric": "f1", "labels": [...],       # label names of the task (may be empty)
     "ids": [...],                                      # test-set order
     "per_example": {...},                              # lists aligned with "ids"
     "predictions": {"<id>": ...}}                      # keyed by example id

``per_example`` by task type: (pair) classification, multiple choice, retrieval: ``acc``
(0/1); span QA: ``em`` (0/1) and ``f1`` (0-1, max over gold answers, as the official scripts);
tagging: ``tp``, ``n_pred``, ``n_gold`` entity counts per sentence (corpus F1 of any resample is
recomputed from their sums; see :mod:`xstilts.core.stats`); BUCC mining: ``tp``, ``n_pred``,
``n_gold`` pair counts per source sentence (corpus F1 likewise); LAReQA / Mewsli-X:
``map_at_20`` (AP@20 in [0, 1]). ``predictions``: the label index
(classification, multiple choice), the answer string (QA), the tag list (tagging), or the
index of the retrieved English sentence in the test split (retrieval), the English id mined
for each source sentence ("" if none; BUCC), or the top-20 candidate ids (LAReQA, Mewsli-X).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from xstilts.core import stats

PRED_ROOT = Path("predictions")
PER_EXAMPLE_KEYS = {"acc", "em", "f1", "tp", "n_pred", "n_gold", "map_at_20"}


def prediction_dir(itask: str, target: str, seed: int, root: Path = PRED_ROOT) -> Path:
    return Path(root) / itask / target / f"seed{seed}"


def prediction_file(itask: str, target: str, seed: int, lang: str,
                    root: Path = PRED_ROOT) -> Path:
    return prediction_dir(itask, target, seed, root) / f"{lang}.json"


def write_predictions(path: Path, record: dict) -> None:
    """Write one prediction record (compact JSON, ids in test-set order)."""
    n = len(record["ids"])
    for key, values in record["per_example"].items():
        if len(values) != n:
            raise ValueError(f"{path}: per_example[{key!r}] has {len(values)} values for {n} ids")
    if list(record["predictions"]) != list(record["ids"]):
        raise ValueError(f"{path}: predictions must be keyed by the ids, in the same order")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, ensure_ascii=False, separators=(",", ":")),
                   encoding="utf-8")
    tmp.replace(path)


def read_predictions(path: Path) -> dict:
    """A prediction record; a missing file is a FileNotFoundError naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing prediction file {path}")
    return json.loads(path.read_text(encoding="utf-8"))


def example_stats(record: dict, metric: str) -> tuple[np.ndarray, str]:
    """Per-example statistics ``[n, c]`` of `metric` and their kind (stats.MEAN / stats.F1)."""
    per = record["per_example"]
    if record["type"] == "tagging" or {"tp", "n_pred", "n_gold"} <= per.keys():  # + BUCC F1
        cols = [per[k] for k in ("tp", "n_pred", "n_gold")]
        return np.asarray(cols, dtype=np.float64).T.reshape(-1, 3), stats.F1
    if metric not in per:
        raise KeyError(f"per-example {metric!r} missing in {record.get('task')} "
                       f"{record.get('lang')} (has {sorted(per)})")
    return np.asarray(per[metric], dtype=np.float64).reshape(-1, 1), stats.MEAN


def aligned_stats(records: list[list[dict]], metric: str) -> tuple[np.ndarray, str]:
    """``[systems, seeds, n, c]`` statistics of records[system][seed], aligned on the ids of
    records[0][0]; every record must hold exactly the same example ids."""
    ref = records[0][0]["ids"]
    ref_set = set(ref)
    kind = None
    out = []
    for system in records:
        row = []
        for rec in system:
            arr, k = example_stats(rec, metric)
            if kind not in (None, k):
                raise ValueError("records of one comparison mix metric kinds")
            kind = k
            ids = rec["ids"]
            if ids != ref:
                if set(ids) != ref_set or len(ids) != len(ref):
                    raise ValueError(f"{rec.get('itask')} seed {rec.get('seed')} "
                                     f"{rec.get('lang')}: example ids differ from the baseline's")
                pos = {i: j for j, i in enumerate(ids)}
                arr = arr[[pos[i] for i in ref]]
            row.append(arr)
        out.append(row)
    return np.asarray(out, dtype=np.float64), kind
