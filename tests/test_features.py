"""Tokenization per task type, first-sub-word tag alignment, padding and batching."""

from __future__ import annotations

from datasets import Dataset

from xstilts.features import IGNORE, collate, featurize, length_grouped_batches
from xstilts.tasks import SCHEMAS, get_task


def _ds(task: str, rows: list[dict]) -> Dataset:
    return Dataset.from_list(rows, features=SCHEMAS[get_task(task).type])


def test_tagging_labels_first_subword_only(xlmr_tokenizer):
    task = get_task("xcat_tag")
    tokens = ["Mauritania", ",", "and", "Friday"]
    tags = ["B-COUNTRY", "O", "O", "B-WEEKDAY"]
    rows = featurize(task, _ds("xcat_tag", [{"id": "a", "tokens": tokens, "tags": tags}]),
                     xlmr_tokenizer, max_length=64)
    (row,) = rows
    enc = xlmr_tokenizer(tokens, is_split_into_words=True)
    word_ids = enc.word_ids()
    assert row["input_ids"] == enc["input_ids"]
    assert len(row["word_starts"]) == len(tokens) == row["num_words"]
    for pos, (w, lab) in enumerate(zip(word_ids, row["labels"], strict=True)):
        first = w is not None and (pos == 0 or word_ids[pos - 1] != w)
        if first:
            assert task.labels[lab] == tags[w]
        else:
            assert lab == IGNORE
    assert sum(lab != IGNORE for lab in row["labels"]) == len(tokens)


def test_multiple_choice_collates_to_three_dims(xlmr_tokenizer):
    task = get_task("xcat_choice")
    ds = _ds("xcat_choice", [
        {"id": "a", "context": "Thursday", "choices": ["March", "Xhosa", "Tuesday", "India"],
         "label": 2},
        {"id": "b", "context": "Germany", "choices": ["Euro", "France", "May", "Cyrillic"],
         "label": 1},
    ])
    rows = featurize(task, ds, xlmr_tokenizer, max_length=32)
    batch = collate(rows, xlmr_tokenizer.pad_token_id)
    b, c, n = batch["input_ids"].shape
    assert (b, c) == (2, 4)
    assert batch["labels"].tolist() == [2, 1]
    lens = batch["attention_mask"].sum(-1)
    for i, row in enumerate(rows):
        for j, ids in enumerate(row["input_ids"]):
            assert lens[i, j] == len(ids)
            assert batch["input_ids"][i, j, len(ids):].eq(xlmr_tokenizer.pad_token_id).all()


def test_pair_truncation_and_labels(xlmr_tokenizer):
    task = get_task("xcat_pair")
    ds = _ds("xcat_pair", [{"id": "a", "text_a": "Isle of Man " * 20, "text_b": "India",
                            "label": 1}])
    (row,) = featurize(task, ds, xlmr_tokenizer, max_length=16)
    assert len(row["input_ids"]) == 16 and row["label"] == 1


def test_length_grouped_batches_deterministic_and_complete():
    rows = [{"input_ids": [0] * (i % 17 + 1)} for i in range(203)]
    a = length_grouped_batches(rows, 8, seed=3)
    assert a == length_grouped_batches(rows, 8, seed=3)
    assert a != length_grouped_batches(rows, 8, seed=4)
    assert sorted(i for b in a for i in b) == list(range(203))
    ev = length_grouped_batches(rows, 8, seed=0, shuffle=False)
    lengths = [len(rows[i]["input_ids"]) for b in ev for i in b]
    assert lengths == sorted(lengths, reverse=True)
