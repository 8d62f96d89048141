"""Prepared data: load a task from its source into its canonical Arrow dataset, and read it back.

Layout: `data/prepared/<task>/<lang>/<split>/` (HF datasets `save_to_disk`). Every read goes
through `load_split`, which enforces the zero-shot rule: outside evaluation (purpose "evaluate")
only English splits may be read (one exception: purpose "multilingual_train", the train splits of
study 2's multilingual intermediate tasks).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from datasets import Dataset, load_from_disk

from xstilts.core.params import TaskSource
from xstilts.tasks import Task, get_task

log = logging.getLogger(__name__)

# "multilingual_train": study 2's multilingual intermediate training (family `multilingual`)
# reads the train split of an intermediate task in a non-English language; nothing else may.
Purpose = Literal["train", "select", "evaluate", "vocabulary", "multilingual_train"]
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
        if src.revision is not None and task.hub is not None:  # params pin the task's hub repo
            task = dataclasses.replace(task, hub=dataclasses.replace(task.hub,
                                                                     revision=src.revision))
        from xstilts.tasks.xtreme import HubSourceError

        try:
            data = task.load_hub(task, langs)
        except HubSourceError as e:
            raise HubSourceError(f"task {task.name!r}: {e}".replace("<name>", task.name)) from None
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

    Every split is checked (non-empty; labels inside the task's label set; the canonical
    schema) before anything is written, so a bad input leaves `out_dir` as it was.
    Returns the example counts {split: {lang: n}} (also written by the caller as metrics),
    for hub sources with `hub: {path, config, revision}` (the pin the task's repo was read at:
    tasks.<name>.revision, else the registry's; None = unpinned, the latest commit).
    """
    task = get_task(name)
    if task.extra.get("labels_from_data"):  # re-derived below, never the last run's labels
        task = dataclasses.replace(task, labels=())
    where = f"task {name!r} ({src.source}{' ' + src.path if src.path else ''})"
    data = load_task_data(task, src, seed)
    features = task.schema
    built: list[tuple[str, str, Dataset]] = []
    for (lang, split), records in sorted(data.items()):
        limit = src.max_train if split == "train" else src.max_eval
        if not records:
            raise ValueError(f"{where}: split {lang}/{split} is empty (no examples in its file)")
        check_records(task, records, f"{where} {lang}/{split}")
        records = _cap(records, limit, seed)
        try:
            ds = Dataset.from_list(records, features=features)
        except Exception as e:  # noqa: BLE001 - re-raised with the location
            raise ValueError(f"{where} {lang}/{split}: records do not fit the "
                             f"{task.type} schema: {e}") from e
        built.append((lang, split, ds))
    counts: dict[str, dict[str, int]] = {}
    for lang, split, ds in built:
        ds.save_to_disk(str(out_dir / lang / split))
        counts.setdefault(split, {})[lang] = len(ds)
        log.info("prepared %s %s/%s: %d examples", name, lang, split, len(ds))
    derive = task.extra.get("labels_from_data")  # label set read off the data (e.g. ccg)
    labels = list(derive(data)) if derive else list(task.labels)
    (out_dir / "task.json").write_text(json.dumps(
        {"name": name, "type": str(task.type), "labels": labels}, indent=1))
    if src.source == "hub" and task.hub is not None:  # the hub commit the data came from
        revision = src.revision if src.revision is not None else task.hub.revision
        return {**counts, "hub": {"path": task.hub.path, "config": task.hub.config,
                                  "revision": revision}}
    return counts


def check_records(task: Task, records: list, where: str) -> None:
    """Generic checks of canonical records: labels inside the label set (or the choices),
    QA answers present; the first bad record is named by its index and id."""
    from xstilts.tasks import TaskType

    def bad(i: int, rec, msg: str) -> ValueError:
        rid = rec.get("id") if isinstance(rec, dict) else None
        return ValueError(f"{where}: record {i} (id {rid!r}): {msg}")

    labels = list(task.labels)
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise bad(i, rec, f"expected a record (dict), got {type(rec).__name__}")
        label = rec.get("label")
        if task.type in (TaskType.CLASSIFICATION, TaskType.PAIR_CLASSIFICATION):
            if not isinstance(label, int) or isinstance(label, bool) or \
                    not 0 <= label < len(labels):
                raise bad(i, rec, f"label {label!r} is outside the label set "
                          f"(indices 0..{len(labels) - 1} of {labels})")
        elif task.type == TaskType.MULTIPLE_CHOICE:
            n = len(rec.get("choices") or [])
            if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < n:
                raise bad(i, rec, f"label {label!r} is not the index of one of its {n} choices")
        elif task.type == TaskType.TAGGING:
            tokens, tags = rec.get("tokens") or [], rec.get("tags") or []
            if len(tokens) != len(tags):
                raise bad(i, rec, f"{len(tokens)} tokens but {len(tags)} tags")
            if labels:
                unknown = sorted({t for t in tags if t not in labels})
                if unknown:
                    raise bad(i, rec, f"tags {unknown} are outside the label set {labels}")
        elif task.type == TaskType.SPAN_QA:
            answers = rec.get("answers") or {}
            if not answers.get("text") and not task.extra.get("allow_no_answer"):  # squad2
                raise bad(i, rec, "no answer")


def split_dir(data_root: Path, task: str, lang: str, split: str) -> Path:
    return Path(data_root) / task / lang / split


def load_split(data_root: Path, task: str, lang: str, split: str, purpose: Purpose) -> Dataset:
    """One prepared split. Training and model selection may only read English; the one
    exception, purpose "multilingual_train", reads train splits (any language) of tasks that
    are not targets (study 2's multilingual intermediate data), never dev or test."""
    if purpose in ("train", "select") and lang != TRAIN_LANG:
        raise ZeroShotViolation(
            f"{purpose} may only read English splits; asked for {task}/{lang}/{split}"
        )
    if purpose == "multilingual_train":
        role = get_task(task).extra.get("role") if split == "train" else None
        if split != "train" or role == "target":
            raise ZeroShotViolation(
                f"multilingual intermediate training reads only the train split of an "
                f"intermediate task; asked for {task}/{lang}/{split}"
                + (f" ({task!r} is a target task)" if role == "target" else ""))
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
    elif task.type == TaskType.RETRIEVAL and "text" in row:  # mining / ranking schema
        yield row["text"]
    elif task.type == TaskType.RETRIEVAL:
        yield row["source"]
        yield row["target"]
