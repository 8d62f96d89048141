"""Task types, canonical schemas and the task registry.

Every task, whatever its source (embedded mini-benchmark, Hugging Face hub, local files in the
official release format), is loaded into the one canonical schema of its task type. Heads and
metrics are chosen by task type; languages are just evaluation splits.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from datasets import Features, Sequence, Value


class TaskType(StrEnum):
    CLASSIFICATION = "classification"
    PAIR_CLASSIFICATION = "pair_classification"
    MULTIPLE_CHOICE = "multiple_choice"
    SPAN_QA = "span_qa"
    TAGGING = "tagging"
    RETRIEVAL = "retrieval"


# One canonical schema per task type. Labels of (pair) classification and multiple choice are
# integer indices (into Task.labels, or into `choices`); tagging tags are label strings
# (BIO for entity tagging); retrieval rows are aligned translation pairs (source = non-English
# sentence, target = its English translation).
SCHEMAS: dict[TaskType, Features] = {
    TaskType.CLASSIFICATION: Features(
        {"id": Value("string"), "text": Value("string"), "label": Value("int64")}
    ),
    TaskType.PAIR_CLASSIFICATION: Features(
        {
            "id": Value("string"),
            "text_a": Value("string"),
            "text_b": Value("string"),
            "label": Value("int64"),
        }
    ),
    TaskType.MULTIPLE_CHOICE: Features(
        {
            "id": Value("string"),
            "context": Value("string"),
            "choices": Sequence(Value("string")),
            "label": Value("int64"),
        }
    ),
    TaskType.SPAN_QA: Features(
        {
            "id": Value("string"),
            "question": Value("string"),
            "context": Value("string"),
            "answers": {
                "text": Sequence(Value("string")),
                "answer_start": Sequence(Value("int32")),
            },
        }
    ),
    TaskType.TAGGING: Features(
        {
            "id": Value("string"),
            "tokens": Sequence(Value("string")),
            "tags": Sequence(Value("string")),
        }
    ),
    TaskType.RETRIEVAL: Features(
        {"id": Value("string"), "source": Value("string"), "target": Value("string")}
    ),
}

# The metric each task type is scored with (see xstilts.core.metrics); the first is the main one.
METRICS: dict[TaskType, tuple[str, ...]] = {
    TaskType.CLASSIFICATION: ("acc",),
    TaskType.PAIR_CLASSIFICATION: ("acc",),
    TaskType.MULTIPLE_CHOICE: ("acc",),
    TaskType.SPAN_QA: ("f1", "em"),
    TaskType.TAGGING: ("f1",),
    TaskType.RETRIEVAL: ("acc",),
}

# Retrieval tasks come in three kinds (``Task.extra["retrieval"]``, default "pairs"):
#   pairs   -- aligned translation pairs in the RETRIEVAL schema above; top-1 accuracy (Tatoeba);
#   mining  -- BUCC: each split holds both full sentence sets in the RANKING schema (role
#              "query" = non-English sentence, relevant = its gold English ids; role "candidate"
#              = English sentence); F1 of margin-based mining, threshold chosen on dev;
#   ranking -- LAReQA, Mewsli-X: "test" rows are queries (relevant = ids of their relevant
#              candidates); the shared candidate pool is the English "candidates" split; mAP@20.
# "text" is exactly what the encoder embeds (the official preprocessing already applied).
RANKING_SCHEMA = Features(
    {
        "id": Value("string"),
        "role": Value("string"),  # "query" | "candidate"
        "text": Value("string"),
        "lang": Value("string"),
        "relevant": Sequence(Value("string")),
    }
)
RETRIEVAL_KINDS: tuple[str, ...] = ("pairs", "mining", "ranking")
# Which sub-word of a pre-split word carries its tag (tagging; `TrainHParams.label_piece`):
#   first          -- the word's first piece, as XTREME/jiant (the leaderboard-comparable default);
#   first_content  -- its first piece that is not a bare word-boundary marker (XLM-R's "▁" before
#                     a CJK word or punctuation, GPT-2's "Ġ"); the first piece when all are bare.
LABEL_PIECES: tuple[str, ...] = ("first", "first_content")
# span-QA EM/F1 definitions (xstilts.core.metrics.squad_scores ``script``), see Task.qa_script
QA_SCRIPTS: tuple[str, ...] = ("squad", "mlqa", "auto")
CANDIDATES_SPLIT = "candidates"  # the candidate pool of ranking tasks (under "en")

# Every loader returns {(lang, split): list of canonical records}:
#   embedded(seed) / load_hub(task, languages) / load_local(task, root, languages)
Records = list[dict]
SplitData = dict[tuple[str, str], Records]
Loader = Callable[..., SplitData]


@dataclass(frozen=True)
class HubSource:
    """Where a task lives on the Hugging Face hub, pinned to a commit.

    ``revision``: the commit of the repo's default branch (None = unpinned, the latest).
    ``parquet_revision``: for repos still published as a loading script (unreadable by
    ``datasets`` >= 4), the commit of their automatic Parquet export branch
    (``refs/convert/parquet``) that the loader reads instead; None = that branch's latest commit.
    """

    path: str
    config: str | None = None
    revision: str | None = None
    parquet_revision: str | None = None


@dataclass(frozen=True)
class Task:
    """A task declaration: type, languages, splits, labels, metric and loaders."""

    name: str
    type: TaskType
    languages: tuple[str, ...]
    # split names per language; English must have train and dev for trained tasks
    splits: dict[str, tuple[str, ...]]
    labels: tuple[str, ...] = ()
    embedded: Loader | None = None
    hub: HubSource | None = None
    load_hub: Loader | None = None
    load_local: Loader | None = None
    description: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def metric(self) -> str:
        return self.metrics[0]

    @property
    def metrics(self) -> tuple[str, ...]:
        """The task's metrics, main first: ``extra["metrics"]`` if declared, else its type's."""
        return tuple(self.extra.get("metrics", METRICS[self.type]))

    @property
    def qa_script(self) -> str:
        """The official EM/F1 definition of a span-QA task, as XTREME's ``evaluate.py`` picks it
        (``METRIC_FUNCTION``): ``"squad"`` (SQuAD v1.1, every language: XQuAD, TyDiQA-GoldP,
        SQuAD) unless the task declares ``extra["qa_script"]`` (``"mlqa"``: MLQA's per-language
        script, every language including en; ``"auto"``: MLQA rules where MLQA defines them)."""
        script = self.extra.get("qa_script", "squad")
        if script not in QA_SCRIPTS:
            raise ValueError(f"task {self.name!r}: qa_script {script!r} is not one of {QA_SCRIPTS}")
        return script

    @property
    def retrieval_kind(self) -> str | None:
        """"pairs", "mining" or "ranking" for retrieval tasks (RETRIEVAL_KINDS), else None."""
        if self.type != TaskType.RETRIEVAL:
            return None
        kind = self.extra.get("retrieval", "pairs")
        if kind not in RETRIEVAL_KINDS:
            raise ValueError(f"task {self.name!r}: retrieval kind {kind!r} is not one of "
                             f"{RETRIEVAL_KINDS}")
        return kind

    @property
    def schema(self) -> Features:
        """The canonical schema of this task's records."""
        if self.retrieval_kind in ("mining", "ranking"):
            return RANKING_SCHEMA
        return SCHEMAS[self.type]

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def eval_languages(self) -> tuple[str, ...]:
        return tuple(lang for lang in self.languages if lang != "en")

    @property
    def train_languages(self) -> tuple[str, ...]:
        """Languages with a train split: English for most tasks; several for the multilingual
        intermediate data of study 2 (read only through `load_split(..., "multilingual_train")`)."""
        return tuple(lang for lang in self.languages if self.has_split(lang, "train"))

    def has_split(self, lang: str, split: str) -> bool:
        return split in self.splits.get(lang, ())


REGISTRY: dict[str, Task] = {}
# Where prepare_data writes each task (relative to the repository root, as xstilts.core.paths.DATA).
PREPARED_ROOT = Path("data/prepared")


def register(task: Task) -> Task:
    if task.name in REGISTRY:
        raise ValueError(f"task {task.name!r} registered twice")
    REGISTRY[task.name] = task
    return task


def register_variant(name: str, base: str) -> Task:
    """Register task `name` as a copy of registered task `base` under its own name (own
    prepared data, hparams, checkpoints and report column), e.g. one tagging target trained
    with each `label_piece`. Declared in params.yaml as ``tasks.<name>.variant_of: <base>``;
    registering the same variant again replaces it (a real task is never replaced)."""
    from xstilts import tasks as _tasks  # noqa: F401  (populates REGISTRY)

    if base not in REGISTRY:
        raise ValueError(f"variant_of: unknown task {base!r}; known tasks: {sorted(REGISTRY)}")
    parent = REGISTRY[base]
    if "variant_of" in parent.extra:
        raise ValueError(f"variant_of: {base!r} is itself a variant (of "
                         f"{parent.extra['variant_of']!r}); name the original task")
    old = REGISTRY.get(name)
    if old is not None and "variant_of" not in old.extra:
        raise ValueError(f"{name!r} is a registered task; name the variant differently")
    REGISTRY[name] = dataclasses.replace(
        parent, name=name, extra={**parent.extra, "variant_of": base},
        description=f"Variant of {base} (same data and loader). {parent.description}")
    return REGISTRY[name]


def get_task(name: str) -> Task:
    """The registered task `name`; a clear error lists the known ones."""
    from xstilts import tasks as _tasks  # noqa: F401  (populates REGISTRY)

    try:
        task = REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known tasks: {sorted(REGISTRY)}") from None
    if task.extra.get("labels_from_data") and not task.labels:
        # label set read off the data by prepare_data (data/prepared/<task>/task.json)
        info = PREPARED_ROOT / name / "task.json"
        if info.is_file():
            labels = tuple(json.loads(info.read_text(encoding="utf-8"))["labels"])
            task = dataclasses.replace(task, labels=labels)
    return task
