"""Tokenization per task type, first-sub-word tag alignment, padding and batching."""

from __future__ import annotations

import pytest
from datasets import Dataset

from xstilts.core.features import IGNORE, collate, featurize, length_grouped_batches
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


# --- issue 3 part A: SQuAD v2.0 no-answer features, data-derived CCG labels, task metrics ---


def test_squad2_features_point_unanswerable_at_cls(xlmr_tokenizer):
    task = get_task("squad2")
    ctx = "The Normans gave their name to Normandy."
    ds = _ds("squad2", [
        {"id": "a", "question": "Which region?", "context": ctx,
         "answers": {"text": ["Normandy"], "answer_start": [31]}},
        {"id": "u", "question": "Who named France?", "context": ctx,
         "answers": {"text": [], "answer_start": []}},
    ])
    train = featurize(task, ds, xlmr_tokenizer, max_length=64, doc_stride=16)
    assert train[0]["start_positions"] > 0
    assert (train[1]["start_positions"], train[1]["end_positions"]) == (0, 0)  # <s> = CLS
    evals = featurize(task, ds, xlmr_tokenizer, max_length=64, doc_stride=16, train=False)
    assert [r["cls_index"] for r in evals] == [0, 0]


def _tiny_model(tiny_encoder_dir, task):
    import torch
    from transformers import AutoModel

    from xstilts.core.modeling import TaskModel

    torch.manual_seed(0)
    return TaskModel(AutoModel.from_pretrained(tiny_encoder_dir), task, "cls", 0.1)


def test_squad2_scoring_path_is_the_official_v2_metric(tiny_encoder_dir, xlmr_tokenizer):
    """predict_split on squad2: null-aware answers, v2.0 scores, per-example values that
    average to them (a random tiny model: only the consistency is asserted)."""
    import torch

    from xstilts.core import metrics
    from xstilts.core.evaluation import predict_split

    task = get_task("squad2")
    ctx = "Москва — столица России. The Normans gave their name to Normandy."
    ds = _ds("squad2", [
        {"id": "a", "question": "Столица России?", "context": ctx,
         "answers": {"text": ["Москва"], "answer_start": [0]}},
        {"id": "u", "question": "Who named France?", "context": ctx,
         "answers": {"text": [], "answer_start": []}},
    ])
    model = _tiny_model(tiny_encoder_dir, task)
    scores, detail = predict_split(model, task, ds, xlmr_tokenizer, "en", 48, 16, 4,
                                   torch.device("cpu"), False)
    preds = detail["predictions"]
    assert scores == metrics.squad_v2_scores(preds, {"a": ["Москва"], "u": []})
    assert {"HasAns_f1", "NoAns_f1"} <= set(scores)
    assert 100 * sum(detail["per_example"]["f1"]) / 2 == scores["f1"]
    assert detail["per_example"]["em"][1] == float(preds["u"] == "")


@pytest.mark.parametrize("name, em", [("xquad", 0.0), ("tydiqa", 0.0), ("mlqa", 100.0)])
def test_qa_tasks_score_with_xtreme_script_per_task(tiny_encoder_dir, xlmr_tokenizer,
                                                    monkeypatch, name, em):
    """XTREME's evaluate.py scores XQuAD and TyDiQA with SQuAD v1.1 in every language and MLQA
    with MLQA's per-language script: "die «alt»" against gold "alt" in German is exact only
    under MLQA's rules (German article "die", Unicode quotes « »)."""
    import torch

    from xstilts.core import evaluation

    task = get_task(name)
    ds = _ds(name, [{"id": "q", "question": "Wie ist er?", "context": "Er ist die alt.",
                     "answers": {"text": ["alt"], "answer_start": [11]}}])
    monkeypatch.setattr(evaluation.qa, "postprocess_predictions",
                        lambda *a, **k: {"q": "die «alt»"})
    model = _tiny_model(tiny_encoder_dir, task)
    scores, detail = evaluation.predict_split(model, task, ds, xlmr_tokenizer, "de", 32, 8, 4,
                                              torch.device("cpu"), False)
    assert scores["em"] == em and detail["per_example"]["em"] == [em / 100]


def test_ccg_labels_and_accuracy_path(tiny_encoder_dir, xlmr_tokenizer):
    import dataclasses

    import numpy as np
    import torch

    from xstilts.core import metrics
    from xstilts.core.evaluation import predict_split
    from xstilts.tasks import REGISTRY

    rows = [{"id": "s1", "tokens": ["Pierre", "Vinken", "works"],
             "tags": ["N/N", "N", "<unk>"]}]
    unprepared = dataclasses.replace(REGISTRY["ccg"], labels=())
    with pytest.raises(ValueError, match="ccg: no label set"):
        featurize(unprepared, _ds("ccg", rows), xlmr_tokenizer, max_length=32)
    task = dataclasses.replace(REGISTRY["ccg"], labels=("N", "N/N", "<unk>"))
    (row,) = featurize(task, _ds("ccg", rows), xlmr_tokenizer, max_length=32)
    assert [task.labels[i] for i in row["labels"] if i != IGNORE] == ["N/N", "N", "<unk>"]
    model = _tiny_model(tiny_encoder_dir, task)
    with torch.no_grad():  # make <unk> the top logit everywhere: it is still never predicted
        model.head.out.bias[2] = 1e4
    scores, detail = predict_split(model, task, _ds("ccg", rows), xlmr_tokenizer, "en", 32, 8,
                                   4, torch.device("cpu"), False)
    pred = detail["predictions"]["s1"]
    assert "<unk>" not in pred and len(pred) == 3
    assert set(scores) == {"acc"}
    assert scores["acc"] == metrics.token_accuracy([rows[0]["tags"]], [pred])
    per = detail["per_example"]
    counts = np.array([per["tp"], per["n_pred"], per["n_gold"]]).T
    hits = sum(g == p for g, p in zip(rows[0]["tags"], pred, strict=True))
    assert counts.tolist() == [[hits, 3, 3]]


def test_long_tagging_sentences_are_chunked_not_truncated(tiny_encoder_dir, xlmr_tokenizer):
    """XTREME cuts long sentences into whole-word chunks so that every word is predicted:
    rows never exceed max_length, each word is labelled exactly once, and predict_split
    reassembles one full-length prediction per sentence (scored as XTREME's seqeval F1)."""
    import numpy as np
    import torch

    from xstilts.core import metrics
    from xstilts.core.evaluation import predict_split

    task = get_task("udpos")
    tokens = "我 喜欢 北京 的 天气 , 也 喜欢 上海 的 小笼包 和 黄浦江 。".split()
    tags = ["PRON", "VERB", "PROPN", "PART", "NOUN", "PUNCT", "ADV", "VERB", "PROPN", "PART",
            "NOUN", "CCONJ", "PROPN", "PUNCT"]
    rows_in = [{"id": "zh-1", "tokens": tokens, "tags": tags},
               {"id": "zh-2", "tokens": ["好"], "tags": ["ADJ"]}]
    ds = _ds("udpos", rows_in)
    rows = featurize(task, ds, xlmr_tokenizer, max_length=8)
    assert len(rows) > 3 and all(len(r["input_ids"]) <= 8 for r in rows)
    assert [r["sentence"] for r in rows] == sorted(r["sentence"] for r in rows)
    assert sum(r["num_words"] for r in rows if r["sentence"] == 0) == len(tokens)
    labelled = [task.labels[lab] for r in rows if r["sentence"] == 0 for lab in r["labels"]
                if lab != IGNORE]
    assert labelled == tags
    # the same sentences without a length problem: one row each, as before
    assert len(featurize(task, ds, xlmr_tokenizer, max_length=128)) == 2
    model = _tiny_model(tiny_encoder_dir, task)
    scores, detail = predict_split(model, task, ds, xlmr_tokenizer, "zh", 8, 4, 4,
                                   torch.device("cpu"), False)
    preds = [detail["predictions"][r["id"]] for r in rows_in]
    assert [len(p) for p in preds] == [len(tokens), 1]
    assert "O" not in preds[0]  # every word got a real prediction
    assert scores == {"f1": metrics.tagging_f1([tags, ["ADJ"]], preds)}
    per = detail["per_example"]
    tp, n_pred, n_gold = (np.sum(per[k]) for k in ("tp", "n_pred", "n_gold"))
    assert (200 * tp / (n_pred + n_gold) if tp else 0.0) == pytest.approx(scores["f1"])
