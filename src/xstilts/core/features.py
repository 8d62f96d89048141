"""Canonical examples -> token features per task type; dynamic-padding collation; batching.

Features are plain dicts of lists (no padding); `collate` pads a batch to its longest row and
`length_grouped_batches` groups rows of similar length (deterministic for a given seed).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from xstilts.core import feature_cache, qa
from xstilts.tasks import Task, TaskType
from xstilts.tasks.core import LABEL_PIECES

IGNORE = -100
_BOUNDARY_MARKERS = "\u2581\u0120"  # sentencepiece "▁", byte-level BPE "Ġ"


def featurize(task: Task, ds: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int,
              doc_stride: int = 64, train: bool = True, label_piece: str = "first") -> list[dict]:
    """Token features for every example of `ds` (one or more features per example for QA).

    `label_piece` (tagging only, see LABEL_PIECES) picks the sub-word that carries each word's
    tag. Tokenized once per (data, tokenizer, task, max length, stride, mode, label piece):
    later calls in the process, and in later stages through `runtime.feature_cache`, reuse the
    rows (`xstilts.core.feature_cache`). Callers must not modify the rows they get.
    """
    if label_piece not in LABEL_PIECES:
        raise ValueError(f"label_piece {label_piece!r} is not one of {LABEL_PIECES}")
    if task.type != TaskType.TAGGING:
        label_piece = "first"  # no word-level labels: the option does not apply
    key = feature_cache.feature_key(task, ds, tokenizer, max_length, doc_stride, train,
                                    label_piece)
    return feature_cache.cached(
        key, lambda: _featurize(task, ds, tokenizer, max_length, doc_stride, train, label_piece))


def _featurize(task: Task, ds: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int,
               doc_stride: int, train: bool, label_piece: str = "first") -> list[dict]:
    ds = ds[:] if len(ds) else {k: [] for k in ds.column_names}  # columns as plain lists
    t = task.type
    if t == TaskType.CLASSIFICATION:
        enc = tokenizer(ds["text"], truncation=True, max_length=max_length)
        return _rows(enc["input_ids"], label=ds["label"])
    if t == TaskType.PAIR_CLASSIFICATION:
        enc = tokenizer(ds["text_a"], ds["text_b"], truncation=True, max_length=max_length)
        return _rows(enc["input_ids"], label=ds["label"])
    if t == TaskType.MULTIPLE_CHOICE:
        return _multiple_choice(ds, tokenizer, max_length)
    if t == TaskType.SPAN_QA:
        if train:
            enc = qa.prepare_train_features(tokenizer, ds["question"], ds["context"],
                                            ds["answers"], max_length, doc_stride)
            return [
                {"input_ids": ids, "start_positions": s, "end_positions": e}
                for ids, s, e in zip(enc["input_ids"], enc["start_positions"],
                                     enc["end_positions"], strict=True)
            ]
        enc = qa.prepare_eval_features(tokenizer, ds["id"], ds["question"], ds["context"],
                                       max_length, doc_stride)
        return [
            {"input_ids": ids, "example_id": ex, "offset_mapping": off, "cls_index": cls}
            for ids, ex, off, cls in zip(enc["input_ids"], enc["example_id"],
                                         enc["offset_mapping"], enc["cls_index"], strict=True)
        ]
    if t == TaskType.TAGGING:
        return _tagging(task, ds, tokenizer, max_length, label_piece)
    if t == TaskType.RETRIEVAL:
        raise ValueError("retrieval tasks are embedded with `retrieval_features`, not trained")
    raise ValueError(f"unknown task type {t}")


def _rows(input_ids: list[list[int]], **columns: list) -> list[dict]:
    return [
        {"input_ids": ids, **{k: v[i] for k, v in columns.items()}}
        for i, ids in enumerate(input_ids)
    ]


def _multiple_choice(ds: dict, tokenizer, max_length: int) -> list[dict]:
    contexts, choices, owners = [], [], []
    for i, (context, options) in enumerate(zip(ds["context"], ds["choices"], strict=True)):
        for choice in options:
            contexts.append(context)
            choices.append(choice)
            owners.append(i)
    enc = tokenizer(contexts, choices, truncation=True, max_length=max_length)
    out = [{"input_ids": [], "label": label} for label in ds["label"]]
    for owner, ids in zip(owners, enc["input_ids"], strict=True):
        out[owner]["input_ids"].append(ids)
    return out


def bare_marker_ids(tokenizer) -> frozenset[int]:
    """Ids of the vocabulary pieces that are only a word-boundary marker (e.g. XLM-R's "▁")."""
    return frozenset(i for piece, i in tokenizer.get_vocab().items()
                     if piece and not piece.strip(_BOUNDARY_MARKERS).strip())


def _tagging(task: Task, ds: dict, tokenizer, max_length: int,
             label_piece: str = "first") -> list[dict]:
    """Label one sub-word of each word (`label_piece`); mask the rest with -100.

    ``first`` labels the word's first sub-word, as XTREME/jiant. ``first_content`` labels its
    first sub-word that is not a bare boundary marker (:func:`bare_marker_ids`): with the
    XLM-R vocabulary a pre-split Chinese or Japanese word (and most punctuation) tokenizes as
    ``▁`` + characters, and under ``first`` every such word would carry its tag on the same
    ``▁`` piece; a word of one piece, or of bare markers only, keeps its first piece.

    A sentence longer than ``max_length`` sub-words (with the special tokens) is cut into
    consecutive chunks of whole words, greedily (a new chunk when the next word's sub-words no
    longer fit), as XTREME's preprocessing does, so that every word gets a prediction; one row
    per chunk. Rows record their ``sentence`` (example index), the chunk's ``num_words``, and
    for each labelled position (``word_starts``) its word in the chunk (``start_words``).
    """
    if not task.labels:
        raise ValueError(f"{task.name}: no label set; a task whose labels come from its data "
                         "(e.g. ccg) gets them from data/prepared/<task>/task.json, written by "
                         "its prepare_data stage")
    label_id = {label: i for i, label in enumerate(task.labels)}
    bare = bare_marker_ids(tokenizer) if label_piece == "first_content" else frozenset()
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    sentences = ds["tokens"]
    pieces = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)
    chunks: list[tuple[int, int, int]] = []  # (sentence, first word, end word)
    for i, tokens in enumerate(sentences):
        n_sub = [0] * len(tokens)
        for w in pieces.word_ids(i):
            if w is not None:
                n_sub[w] += 1
        start, used = 0, 0
        for w, n in enumerate(n_sub):
            if used + n > budget and w > start:
                chunks.append((i, start, w))
                start, used = w, 0
            used += n
        chunks.append((i, start, len(tokens)))
    enc = tokenizer([sentences[i][a:b] for i, a, b in chunks], is_split_into_words=True,
                    truncation=True, max_length=max_length)
    rows = []
    for k, (i, a, b) in enumerate(chunks):
        tags = ds["tags"][i][a:b]
        ids = enc["input_ids"][k]
        positions: dict[int, list[int]] = {}  # word -> its sub-word positions, in order
        for pos, w in enumerate(enc.word_ids(k)):
            if w is not None:
                positions.setdefault(w, []).append(pos)
        labels = [IGNORE] * len(ids)
        first, words = [], []
        for w, where in positions.items():
            if tags[w] not in label_id:
                raise ValueError(f"{task.name}: tag {tags[w]!r} of example {ds['id'][i]} "
                                 f"is not in the label set {task.labels}")
            pos = next((q for q in where if ids[q] not in bare), where[0])
            labels[pos] = label_id[tags[w]]
            first.append(pos)
            words.append(w)
        rows.append({"input_ids": ids, "labels": labels, "word_starts": first,
                     "start_words": words, "num_words": b - a, "sentence": i})
    return rows


def retrieval_features(texts: list[str], tokenizer, max_length: int) -> list[dict]:
    enc = tokenizer(texts, truncation=True, max_length=max_length)
    return _rows(enc["input_ids"])


def length(row: dict) -> int:
    ids = row["input_ids"]
    return max(len(x) for x in ids) if ids and isinstance(ids[0], list) else len(ids)


def length_grouped_batches(rows: list[dict], batch_size: int, seed: int,
                           shuffle: bool = True) -> list[list[int]]:
    """Batches of row indices with similar lengths (mega-batches of 50 batches, sorted).

    With shuffle, the grouping and the batch order come from `random.Random(seed)`; without,
    rows are sorted by length (fastest evaluation) and the order is fixed.
    """
    idx = list(range(len(rows)))
    if not shuffle:
        idx.sort(key=lambda i: -length(rows[i]))
        return [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)]
    rng = random.Random(seed)
    rng.shuffle(idx)
    mega = batch_size * 50
    batches = []
    for start in range(0, len(idx), mega):
        chunk = sorted(idx[start:start + mega], key=lambda i: -length(rows[i]))
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(rows: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest row; multiple-choice rows become [B, C, L]."""
    ids = [r["input_ids"] for r in rows]
    if ids and ids[0] and isinstance(ids[0][0], list):  # multiple choice
        n = max(len(x) for choices in ids for x in choices)
        c = max(len(choices) for choices in ids)
        input_ids = torch.full((len(rows), c, n), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), c, n), dtype=torch.long)
        for b, choices in enumerate(ids):
            for j, x in enumerate(choices):
                input_ids[b, j, : len(x)] = torch.tensor(x)
                mask[b, j, : len(x)] = 1
    else:
        n = max(len(x) for x in ids)
        input_ids = torch.full((len(rows), n), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), n), dtype=torch.long)
        for b, x in enumerate(ids):
            input_ids[b, : len(x)] = torch.tensor(x)
            mask[b, : len(x)] = 1
    batch = {"input_ids": input_ids, "attention_mask": mask}
    if "label" in rows[0]:
        batch["labels"] = torch.tensor([r["label"] for r in rows])
    if "labels" in rows[0]:
        lab = torch.full((len(rows), n), IGNORE, dtype=torch.long)
        for b, r in enumerate(rows):
            lab[b, : len(r["labels"])] = torch.tensor(r["labels"])
        batch["labels"] = lab
    for key in ("start_positions", "end_positions"):
        if key in rows[0]:
            batch[key] = torch.tensor([r[key] for r in rows])
    return batch


def iter_batches(rows: list[dict], batches: list[list[int]], pad_id: int
                 ) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    for b in batches:
        yield b, collate([rows[i] for i in b], pad_id)
