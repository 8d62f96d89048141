"""XTREME submission layout and file formats on fabricated prediction files."""

from __future__ import annotations

import json

import pytest

from xstilts.core.export import export_cell
from xstilts.core.predictions import prediction_file, write_predictions


def _write(root, task, kind, lang, ids, preds, labels=(), itask="none", seed=0):
    rec = {"task": task, "type": kind, "lang": lang, "split": "test", "itask": itask,
           "seed": seed, "metric": "acc", "labels": list(labels), "ids": ids,
           "per_example": {"acc": [0] * len(ids)},
           "predictions": dict(zip(ids, preds, strict=True))}
    write_predictions(prediction_file(itask, task, seed, lang, root), rec)


def _read_tag(path):
    """Sentences of a tagging file as XTREME's evaluate.py reads them (blank line = end)."""
    out, cur = [], []
    for line in path.read_text().split("\n")[:-1]:
        if line.strip():
            cur.append(line.strip())
        else:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


@pytest.fixture
def exported(tmp_path):
    pred = tmp_path / "predictions"
    nli = ("entailment", "neutral", "contradiction")
    _write(pred, "xnli", "pair_classification", "de", ["a", "b", "c"], [2, 0, 1], nli)
    _write(pred, "xnli", "pair_classification", "en", ["a", "b"], [1, 1], nli)
    _write(pred, "pawsx", "pair_classification", "fr", ["p", "q"], [1, 0],
           ("not_paraphrase", "paraphrase"))
    _write(pred, "panx", "tagging", "de", ["s1", "s2", "s3"],
           [["B-PER", "I-PER", "O"], ["O"], ["B-LOC"]])
    _write(pred, "xquad", "span_qa", "zh", ["q1", "q2"], ["北京", ""])
    _write(pred, "tatoeba", "retrieval", "de", ["de-0", "de-1", "de-2"], [0, 2, 2])
    _write(pred, "bucc", "retrieval", "fr", ["fr-1", "fr-2", "fr-3"], ["en-9", "en-7", ""])
    _write(pred, "xcat_choice", "multiple_choice", "ru", ["x", "y"], [3, 0])
    _write(pred, "xcat_pair", "pair_classification", "ru", ["x", "y"], [0, 1],
           ("different", "same"))
    tasks = ["xnli", "pawsx", "panx", "xquad", "tatoeba", "bucc", "xcat_choice", "xcat_pair"]
    files = export_cell("none", 0, tasks, pred, tmp_path / "submission")
    return tmp_path / "submission" / "none" / "seed0", files


def test_layout(exported):
    out, files = exported
    assert sorted(str(f.relative_to(out)) for f in files) == [
        "bucc2018/test-fr.tsv", "panx/test-de.tsv", "pawsx/test-fr.tsv", "tatoeba/test-de.tsv",
        "xcat_choice/test-ru.tsv", "xcat_pair/test-ru.tsv", "xnli/test-de.tsv",
        "xnli/test-en.tsv", "xquad/test-zh.json",
    ]
    assert sorted(p.name for p in out.iterdir()) == [
        "bucc2018", "panx", "pawsx", "tatoeba", "xcat_choice", "xcat_pair", "xnli", "xquad"]


def test_formats(exported):
    out, _ = exported
    # classification: one label per line in test-set order; XNLI names, PAWS-X indices
    assert (out / "xnli/test-de.tsv").read_text() == "contradiction\nentailment\nneutral\n"
    assert (out / "pawsx/test-fr.tsv").read_text() == "1\n0\n"
    # tagging: one tag per line, a blank line between sentences
    assert (out / "panx/test-de.tsv").read_text() == "B-PER\nI-PER\nO\n\nO\n\nB-LOC\n"
    assert _read_tag(out / "panx/test-de.tsv") == [["B-PER", "I-PER", "O"], ["O"], ["B-LOC"]]
    # QA: {id: answer}
    assert json.loads((out / "xquad/test-zh.json").read_text(encoding="utf-8")) == {
        "q1": "北京", "q2": ""}
    # retrieval: the retrieved index per line; BUCC: source id <TAB> English id
    assert (out / "tatoeba/test-de.tsv").read_text() == "0\n2\n2\n"
    assert (out / "bucc2018/test-fr.tsv").read_text() == "fr-1\ten-9\nfr-2\ten-7\n"
    # embedded tasks: same layout under their own names
    assert (out / "xcat_choice/test-ru.tsv").read_text() == "3\n0\n"
    assert (out / "xcat_pair/test-ru.tsv").read_text() == "different\nsame\n"


def test_empty_last_sentence_survives(tmp_path):
    pred = tmp_path / "predictions"
    _write(pred, "udpos", "tagging", "en", ["a", "b"], [["NOUN"], []])
    export_cell("none", 0, ["udpos"], pred, tmp_path / "submission")
    f = tmp_path / "submission/none/seed0/udpos/test-en.tsv"
    assert _read_tag(f) == [["NOUN"], []]


def test_missing_predictions_are_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no prediction files"):
        export_cell("none", 0, ["xnli"], tmp_path / "predictions", tmp_path / "submission")
