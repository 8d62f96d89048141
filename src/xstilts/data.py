"""Prepared data: load a task from its source into its canonical Arrow dataset, and read it back.

Layout: `data/prepared/<task>/<lang>/<split>/` (HF datasets `save_to_disk`). Every read goes
through `load_split`, which enforces the zero-shot rule: outside the evaluate stage only
English splits may be read.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from datasets import Dataset, load_from_disk

from xstilts.params import TaskSource
from xstilts.tasks import SCHEMAS, Task, get_task

log = logging.getLogger(__name__)

Purpose = Literal["train", "select", "evaluate", "vocabulary"]
TRAIN_LANG = "en"

# Every split read in this process, as (task, lang, split, purpose): the zero-shot audit trail.
READ_LOG: list[tuple[str, str, str, str]] = []


class ZeroShotViolation(RuntimeError):
    """A non-English split was requested for training or model selection."""


def load_task_data(task: Task, src: TaskSource, seed: int = 0) -> dict[tuple[str, str], list]:
    """Records per (lang, split) from the task's configured source."""
    langs = tuple(src.languages) if src.languages else task.languages
    if src.source == "embedded":
        data = task.embedded(seed=seed)
    elif src.source == "hub":
        data = task.load_hub(task, langs)
    else:
        data = task.load_local(task, Path(src.path), langs)
    return {key: recs for key, recs in data.items() if key[0] in langs or key[0] == TRAIN_LANG}


def _cap(records: list, limit: int | None, seed: int) -> list:
    """A deterministic random subset of at most `limit` records (order kept)."""
    if limit is None or len(records) <= limit:
        return records
    keep = sorted(random.Random(seed).sample(range(len(records)), limit))
    return [records[i] for i in keep]


def prepare_task(name: str, src: TaskSource, out_dir: Path, seed: int = 0) -> dict:
    """Load task `name`, validate it against its schema, save one Arrow dataset per split.

    Returns the example counts {split: {lang: n}} (also written by the caller as metrics).
    """
    task = get_task(name)
    data = load_task_data(task, src, seed)
    features = SCHEMAS[task.type]
    counts: dict[str, dict[str, int]] = {}
    for (lang, split), records in sorted(data.items()):
        limit = src.max_train if split == "train" else src.max_eval
        records = _cap(records, limit, seed)
        if not records:
            raise ValueError(f"task {name!r}: split {lang}/{split} is empty")
        try:
            ds = Dataset.from_list(records, features=features)
        except Exception as e:  # noqa: BLE001 - re-raised with the location
            raise ValueError(f"task {name!r} {lang}/{split}: records do not fit the "
                             f"{task.type} schema: {e}") from e
        ds.save_to_disk(str(out_dir / lang / split))
        counts.setdefault(split, {})[lang] = len(ds)
        log.info("prepared %s %s/%s: %d examples", name, lang, split, len(ds))
    (out_dir / "task.json").write_text(json.dumps(
        {"name": name, "type": str(task.type), "labels": list(task.labels)}, indent=1))
    return counts


def split_dir(data_root: Path, task: str, lang: str, split: str) -> Path:
    return Path(data_root) / task / lang / split


def load_split(data_root: Path, task: str, lang: str, split: str, purpose: Purpose) -> Dataset:
    """One prepared split. Training and model selection may only read English."""
    if purpose in ("train", "select") and lang != TRAIN_LANG:
        raise ZeroShotViolation(
            f"{purpose} may only read English splits; asked for {task}/{lang}/{split}"
        )
    path = split_dir(data_root, task, lang, split)
    if not path.is_dir():
        raise FileNotFoundError(f"prepared split not found: {path} (run `dvc repro` for the data)")
    READ_LOG.append((task, lang, split, purpose))
    return load_from_disk(str(path), keep_in_memory=True)


def available_splits(data_root: Path, task: str) -> Iterator[tuple[str, str]]:
    """(lang, split) pairs present on disk for `task`, sorted."""
    root = Path(data_root) / task
    for lang_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for split_path in sorted(p for p in lang_dir.iterdir() if p.is_dir()):
            yield lang_dir.name, split_path.name


def iter_texts(data_root: Path, task: str) -> Iterator[str | tuple[str, str]]:
    """Every text (and text pair) of a prepared task, as the tokenizer will see it.

    Used only to trim the vocabulary: labels are never read and the trimmed model computes
    exactly what the full model computes on these texts (see tests/test_base_model.py).
    """
    t = get_task(task)
    for lang, split in available_splits(data_root, task):
        ds = load_split(data_root, task, lang, split, "vocabulary")
        for row in ds:
            yield from _row_texts(t, row)


def _row_texts(task: Task, row: dict) -> Iterator[str | tuple[str, str]]:
    from xstilts.tasks import TaskType

    if task.type == TaskType.CLASSIFICATION:
        yield row["text"]
    elif task.type == TaskType.PAIR_CLASSIFICATION:
        yield (row["text_a"], row["text_b"])
    elif task.type == TaskType.MULTIPLE_CHOICE:
        for choice in row["choices"]:
            yield (row["context"], choice)
    elif task.type == TaskType.SPAN_QA:
        yield (row["question"], row["context"])
    elif task.type == TaskType.TAGGING:
        yield from row["tokens"]
    elif task.type == TaskType.RETRIEVAL:
        yield row["source"]
        yield row["target"]
