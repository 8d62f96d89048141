"""Issue 3's task suite: every registered (non-embedded) task loads a few examples through its
local-format reader (``task.load_local``; real files where ../shared has them, small official-
format files written here otherwise) and scores predictions on exactly those examples with the
task's metric, through the functions the pipeline uses (``xstilts.core.evaluation`` calls
``metrics.accuracy`` / ``squad_scores`` / ``squad_v2_scores`` / ``tagging_f1`` /
``token_accuracy`` / ``retrieval_accuracy`` and ``retrieval``'s mining and mAP@20 functions).

Each case scores the gold as prediction (100) and a known corruption whose score is worked out
by hand in the comments, so a reader or metric that drifts makes these tests fail."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from xstilts.core import metrics, retrieval
from xstilts.tasks import REGISTRY
from xstilts.tasks import readers as rd
from xstilts.tasks.core import TaskType

from .test_readers import (
    XNLI_HEADER,
    jsonl,
    snli_line,
    squad2_doc,
    squad_doc,
    tsv,
    write,
    write_bucc,
    write_ccgbank,
    write_mnli,
    write_squad,
    xnli_row,
)
from .test_retrieval_readers import write_mewslix, write_xquad_r

REAL = Path(__file__).parents[2].parent / "shared" / "data" / "real"

SUITE = (
    "anli", "bucc", "ccg", "commonsenseqa", "cosmosqa", "hellaswag", "lareqa", "mewslix", "mlqa",
    "mnli", "panx", "pawsx", "qqp", "snli", "socialiqa", "squad", "squad2", "sst2", "tatoeba",
    "tatoeba_r", "tydiqa", "udpos", "xcopa", "xnli", "xquad",
    "tydiqa_train", "squad_translate_train",  # study 2's multilingual intermediate QA data
)  # fmt: skip


def need_real(sub: str) -> Path:
    path = REAL / sub
    if not path.is_dir():
        pytest.skip(f"shared real data not found at {path} (only on the shared workspace)")
    return path


def load(name: str, root: Path, languages: list[str]) -> dict:
    task = REGISTRY[name]
    return task.load_local(task, root, languages)


# --------------------------------------------------------------------------- file writers
# (each returns the loaded data; the official layouts are those of tests/tasks/test_readers.py)


def _mnli(tmp: Path) -> dict:
    write_mnli(tmp)
    return load("mnli", tmp, ["en"])


def _qqp(tmp: Path) -> dict:
    header = ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"]
    write(tmp / "train.tsv", tsv(header, [["7", "15", "16", "How do I learn?", "How?", "1"]]))
    write(tmp / "dev.tsv", tsv(header, [["9", "1", "2", "A?", "B?", "0"],
                                        ["10", "3", "4", "Why?", "Why is it?", "1"],
                                        ["11", "5", "6", "Где?", "Куда?", "0"]]))
    return load("qqp", tmp, ["en"])


def _sst2(tmp: Path) -> dict:
    write(tmp / "SST-2" / "train.tsv", "sentence\tlabel\nhide new secretions \t0\n")
    write(tmp / "SST-2" / "dev.tsv", "sentence\tlabel\nit 's a charming trip . \t1\n"
          "unflinchingly bleak \t0\n")
    return load("sst2", tmp, ["en"])


def _anli(tmp: Path) -> dict:
    for r in ("R1", "R2", "R3"):
        for split in ("train", "dev"):
            write(tmp / "anli_v1.0" / r / f"{split}.jsonl", jsonl([
                {"uid": f"{r}-{split}-a", "context": "The sky is blue.", "hypothesis": "Blue.",
                 "label": "e", "reason": ""},
                {"uid": f"{r}-{split}-b", "context": "C.", "hypothesis": "H.", "label": "c",
                 "reason": ""}]))
    return load("anli", tmp, ["en"])


def _snli(tmp: Path) -> dict:
    root = tmp / "snli_1.0"
    write(root / "snli_1.0_train.jsonl", jsonl([snli_line("p0", "neutral")]))
    write(root / "snli_1.0_dev.jsonl", jsonl([
        snli_line("d0", "entailment"), snli_line("d1", "-"), snli_line("d2", "contradiction"),
        snli_line("d3", "neutral", "Ein Mann spielt.", "Мужчина играет.")]))
    return load("snli", tmp, ["en"])


def _xnli(tmp: Path) -> dict:
    write_mnli(tmp / "MNLI")
    rows = [xnli_row("en", "neutral", "A man.", "A person.", "1"),
            xnli_row("de", "contradiction", "Ein Mann.", "Eine Frau.", "1"),
            xnli_row("de", "entailment", 'Er sagte "ja".', "Er stimmte zu.", "2"),
            xnli_row("de", "neutral", "Ein Hund.", "Ein Tier.", "3"),
            xnli_row("fr", "entailment", "Un homme.", "Une personne.", "1")]
    for split in ("dev", "test"):
        write(tmp / "XNLI-1.0" / f"xnli.{split}.tsv", tsv(XNLI_HEADER, rows))
    return load("xnli", tmp, ["de", "fr"])


def _pawsx(tmp: Path) -> dict:
    header = ["id", "sentence1", "sentence2", "label"]
    root = tmp / "x-final"
    write(root / "en" / "train.tsv", tsv(header, [["1", "In Paris , A.", "A , in Paris .", "1"]]))
    for lang in ("en", "de"):
        write(root / lang / "dev_2k.tsv", tsv(header, [["1", "a", "b", "0"]]))
        write(root / lang / "test_2k.tsv", tsv(header, [["1", "c", "d", "1"],
                                                        ["2", "e", "f", "0"],
                                                        ["3", "g", "h", "1"],
                                                        ["4", "i", "j", "0"]]))
    return load("pawsx", tmp, ["de"])


def _hellaswag(tmp: Path) -> dict:
    hs = {"ind": 24, "activity_label": "Roof", "ctx_a": "A man is on a roof.", "ctx_b": "he",
          "ctx": "A man is on a roof. he", "split": "val", "split_type": "indomain",
          "label": 3, "endings": ["a", "b", "c", "d"], "source_id": "activitynet~v_x"}
    write(tmp / "data" / "hellaswag_train.jsonl", jsonl([hs]))
    write(tmp / "data" / "hellaswag_val.jsonl", jsonl([hs, {**hs, "ind": 25, "label": 0}]))
    return load("hellaswag", tmp, ["en"])


def _commonsenseqa(tmp: Path) -> dict:
    q = {"answerKey": "C", "id": "075e483d21c29a511267ef62bedc0461",
         "question": {"question_concept": "milk", "stem": "Where do you keep milk?",
                      "choices": [{"label": k, "text": t} for k, t in zip(
                          "ABCDE", ["shelf", "car", "fridge", "box", "bag"], strict=True)]}}
    write(tmp / "train_rand_split.jsonl", jsonl([q]))
    write(tmp / "dev_rand_split.jsonl", jsonl([{**q, "id": "d1", "answerKey": "A"},
                                               {**q, "id": "d2", "answerKey": "E"},
                                               {**q, "id": "d3"}]))
    return load("commonsenseqa", tmp, ["en"])


def _socialiqa(tmp: Path) -> dict:
    ex = {"context": "Tracy didn't go home.", "question": "What does Tracy need?",
          "answerA": "a plan", "answerB": "Go home", "answerC": "Somewhere to go"}
    root = tmp / "socialiqa-train-dev"
    write(root / "train.jsonl", jsonl([ex]))
    write(root / "train-labels.lst", "1\n")
    write(root / "dev.jsonl", jsonl([ex, ex]))
    write(root / "dev-labels.lst", "2\n3\n")
    return load("socialiqa", tmp, ["en"])


def _squad(tmp: Path) -> dict:
    write_squad(tmp)
    return load("squad", tmp, ["en"])


def _mlqa(tmp: Path) -> dict:
    write_squad(tmp / "squad")
    root = tmp / "mlqa"
    for split in ("dev", "test"):
        for lang, ctx, q1, q2 in (("en", "Rome is old.", "old", "Rome"),
                                  ("de", "Rom ist alt und schön.", "alt", "schön")):
            doc = squad_doc([(ctx, [(f"{lang}-{split}-1", "Wie?", q1),
                                    (f"{lang}-{split}-2", "Was?", q2)])])
            write(root / "MLQA_V1" / split / f"{split}-context-{lang}-question-{lang}.json",
                  json.dumps(doc, ensure_ascii=False))
    return load("mlqa", root, ["de"])


def _tydiqa(tmp: Path) -> dict:
    dev = tmp / "tydiqa-goldp-v1.1-dev"
    write(dev / "tydiqa-goldp-dev-arabic.json", json.dumps(squad_doc([
        ("القاهرة عاصمة مصر", [("arabic-1-0", "ما عاصمة مصر؟", "القاهرة"),
                               ("arabic-2-0", "عاصمة ماذا؟", "مصر")]),
    ]), ensure_ascii=False))
    return load("tydiqa", tmp, ["ar"])


def _tydiqa_train(tmp: Path) -> dict:
    write_squad(tmp / "squad")  # English dev = SQuAD v1.1 dev
    write(tmp / "tydiqa-goldp-v1.1-train.json", json.dumps(squad_doc([
        ("Helsinki on Suomen pääkaupunki", [("finnish-1-0", "Mikä on pääkaupunki?", "Helsinki"),
                                           ("finnish-2-0", "Minkä maan?", "Suomen")]),
        ("Paris is big.", [("english-3-0", "What is big?", "Paris")]),
    ]), ensure_ascii=False))
    return load("tydiqa_train", tmp, ["fi"])


def _translate_train(tmp: Path) -> dict:
    write_squad(tmp)  # XTREME's download: squad/{train,dev}-v1.1.json + squad/translate-train/
    write(tmp / "translate-train" / "squad.translate.train.en-de.json", json.dumps(squad_doc([
        ("Paris ist die Hauptstadt Frankreichs.", [("q1", "Hauptstadt?", "Paris")]),
        ("Der Nil fließt nach Norden.", [("q2", "Wohin?", "Norden"), ("q3", "Was?", "Nil")]),
    ]), ensure_ascii=False))
    return load("squad_translate_train", tmp / "translate-train", ["de"])


# --------------------------------------------------------------------------- classification,
# pair classification and multiple choice: accuracy

# task -> (writer or real sub-folder, languages, (lang, split) scored, number of examples)
ACC_CASES = {
    "mnli": (_mnli, ["en"], ("en", "train"), 3),
    "qqp": (_qqp, ["en"], ("en", "dev"), 3),
    "sst2": (_sst2, ["en"], ("en", "dev"), 2),
    "anli": (_anli, ["en"], ("en", "dev"), 6),  # rounds 1-3 concatenated
    "snli": (_snli, ["en"], ("en", "dev"), 3),  # the '-' (no gold) pair is dropped
    "xnli": (_xnli, ["de"], ("de", "test"), 3),
    "pawsx": (_pawsx, ["de"], ("de", "test"), 4),
    "hellaswag": (_hellaswag, ["en"], ("en", "dev"), 2),
    "commonsenseqa": (_commonsenseqa, ["en"], ("en", "dev"), 3),
    "socialiqa": (_socialiqa, ["en"], ("en", "dev"), 2),
    "cosmosqa": ("cosmosqa", ["en"], ("en", "dev"), 2985),  # real valid.csv
    "xcopa": ("xcopa", ["qu", "zh"], ("qu", "test"), 500),  # real XCOPA test
}


@pytest.mark.parametrize("name", sorted(ACC_CASES))
def test_accuracy_tasks_load_and_score(name, tmp_path):
    source, langs, key, n = ACC_CASES[name]
    task = REGISTRY[name]
    assert task.type in (TaskType.CLASSIFICATION, TaskType.PAIR_CLASSIFICATION,
                         TaskType.MULTIPLE_CHOICE)
    assert task.metrics == ("acc",)
    data = source(tmp_path) if callable(source) else load(name, need_real(source), langs)
    recs = data[key]
    assert len(recs) == n
    labels = [r["label"] for r in recs]
    n_classes = [len(r["choices"]) if task.type == TaskType.MULTIPLE_CHOICE else task.num_labels
                 for r in recs]
    assert metrics.accuracy(labels, labels) == 100.0
    # one wrong prediction (the first example's next class): (n - 1) / n
    wrong = [(labels[0] + 1) % n_classes[0], *labels[1:]]
    assert metrics.accuracy(wrong, labels) == pytest.approx(100.0 * (n - 1) / n, abs=1e-9)
    # every prediction shifted to the next class: 0
    shifted = [(g + 1) % k for g, k in zip(labels, n_classes, strict=True)]
    assert metrics.accuracy(shifted, labels) == 0.0


def test_accuracy_cases_known_labels(tmp_path):
    """A prediction list fixed in advance, scored on loaded labels (not derived from them)."""
    data = _xnli(tmp_path / "xnli")
    assert [r["label"] for r in data[("de", "test")]] == [2, 0, 1]
    # predict "entailment" for all three: only pair 2 is right -> 1/3
    assert metrics.accuracy([0, 0, 0], [r["label"] for r in data[("de", "test")]]) == \
        pytest.approx(100 / 3)
    data = _commonsenseqa(tmp_path / "csqa")
    assert [r["label"] for r in data[("en", "dev")]] == [0, 4, 2]  # answerKey A, E, C
    assert metrics.accuracy([0, 4, 4], [r["label"] for r in data[("en", "dev")]]) == \
        pytest.approx(200 / 3)


def test_real_cosmosqa_and_xcopa_fixed_predictions():
    """Always answering choice 0 on real files: the share of label 0 (counts from MANIFEST /
    test_readers: cosmosqa dev has 744 label-0 of 2985)."""
    data = load("cosmosqa", need_real("cosmosqa"), ["en"])
    dev = data[("en", "dev")]
    assert metrics.accuracy([0] * len(dev), [r["label"] for r in dev]) == \
        pytest.approx(100 * 744 / 2985)
    xcopa = load("xcopa", need_real("xcopa"), ["et"])
    first = xcopa[("et", "dev")][0]
    assert first["label"] == 1 and first["choices"][1] == "Tilast voolas vett."
    assert metrics.accuracy([1], [first["label"]]) == 100.0


# --------------------------------------------------------------------------- span QA: SQuAD
# v1.1 EM/F1 (MLQA's language-aware normalisation by split language)

# task -> (writer or real sub-folder, languages, (lang, split), number of questions)
QA_CASES = {
    "squad": (_squad, ["en"], ("en", "train"), 3),
    "mlqa": (_mlqa, ["de"], ("de", "test"), 2),
    "tydiqa": (_tydiqa, ["ar"], ("ar", "test"), 2),  # GoldP (shared tydiqa is the primary task)
    "xquad": ("xquad", ["de", "zh"], ("de", "test"), 1190),  # real
    "tydiqa_train": (_tydiqa_train, ["fi"], ("fi", "train"), 2),  # study 2: non-English train
    "squad_translate_train": (_translate_train, ["de"], ("de", "train"), 3),
}


@pytest.mark.parametrize("name", sorted(QA_CASES))
def test_span_qa_tasks_load_and_score(name, tmp_path):
    source, langs, (lang, split), n = QA_CASES[name]
    task = REGISTRY[name]
    assert task.type == TaskType.SPAN_QA and task.metrics == ("f1", "em")
    data = source(tmp_path) if callable(source) else load(name, need_real(source), langs)
    recs = data[(lang, split)]
    assert len(recs) == n
    refs = {r["id"]: r["answers"]["text"] for r in recs}
    gold = {r["id"]: r["answers"]["text"][0] for r in recs}
    # every first gold answer here is one token (checked), so that "<gold> zzz" has
    # P = 1/2, R = 1, F1 = 2/3 and EM = 0
    first = recs[0]["id"]
    assert len(metrics.normalize_answer(gold[first], lang, task.qa_script).split()) == 1
    script = task.qa_script  # as XTREME's evaluate.py: MLQA's script for mlqa, else SQuAD
    assert script == ("mlqa" if name == "mlqa" else "squad")
    assert metrics.squad_scores(gold, refs, lang=lang, script=script) == {"em": 100.0, "f1": 100.0}
    corrupt = {**gold, first: gold[first] + " zzz"}
    s = metrics.squad_scores(corrupt, refs, lang=lang, script=script)
    assert s["em"] == pytest.approx(100.0 * (n - 1) / n)
    assert s["f1"] == pytest.approx(100.0 * (n - 1 + 2 / 3) / n)
    # a missing prediction scores 0 for its question (as evaluation.py's per-example detail)
    missing = {k: v for k, v in gold.items() if k != first}
    assert metrics.squad_scores(missing, refs, lang=lang, script=script)["em"] == pytest.approx(
        100.0 * (n - 1) / n)


def test_span_qa_known_answers(tmp_path):
    data = _mlqa(tmp_path / "mlqa")
    de = data[("de", "test")]
    assert [r["answers"]["text"] for r in de] == [["alt"], ["schön"]]
    refs = {r["id"]: r["answers"]["text"] for r in de}
    # "die alt" (German article dropped by MLQA normalisation) is exact; "schön!" too
    # (punctuation); predicting "alt" for "schön" is 0: EM = F1 = 50
    ids = [r["id"] for r in de]
    script = REGISTRY["mlqa"].qa_script
    assert metrics.squad_scores({ids[0]: "die alt", ids[1]: "schön!"}, refs, "de",
                                script=script) == {"em": 100.0, "f1": 100.0}
    assert metrics.squad_scores({ids[0]: "alt", ids[1]: "alt"}, refs, "de",
                                script=script) == {"em": 50.0, "f1": 50.0}
    # SQuAD v1.1's rules (XQuAD, TyDiQA) keep the German article: "die alt" != "alt"
    assert metrics.squad_scores({ids[0]: "die alt", ids[1]: "schön!"}, refs, "de",
                                script=REGISTRY["xquad"].qa_script)["em"] == 50.0


def test_real_xquad_partial_answer():
    xq = load("xquad", need_real("xquad"), ["de"])[("en", "test")]
    assert xq[0]["answers"]["text"] == ["308"]
    # "308 points" against "308": P = 1/2, R = 1 -> F1 = 2/3 on one question
    s = metrics.squad_scores({xq[0]["id"]: "308 points"}, {xq[0]["id"]: ["308"]}, "en")
    assert s == pytest.approx({"em": 0.0, "f1": 200 / 3})
    assert metrics.xtreme_qa_score(s["em"], s["f1"]) == pytest.approx(100 / 3)


def test_squad2_load_and_score(tmp_path):
    doc = json.dumps(squad2_doc(), ensure_ascii=False)
    write(tmp_path / "train-v2.0.json", doc)
    write(tmp_path / "dev-v2.0.json", doc)
    task = REGISTRY["squad2"]
    assert task.extra["allow_no_answer"]
    recs = load("squad2", tmp_path, ["en"])[("en", "dev")]
    refs = {r["id"]: r["answers"]["text"] for r in recs}
    assert refs == {"a1": ["Normandy"], "u1": [], "a2": ["Москва"]}
    gold = {k: (v[0] if v else "") for k, v in refs.items()}
    s = metrics.squad_v2_scores(gold, refs)
    assert (s["em"], s["f1"], s["HasAns_total"], s["NoAns_total"]) == (100.0, 100.0, 2, 1)
    # answering the unanswerable question with its plausible answer: u1 scores 0 -> 2/3;
    # "to Normandy" for a1: F1 = 2/3 (v2.0 drops no "to") -> F1 = (2/3 + 0 + 1) / 3
    s = metrics.squad_v2_scores({**gold, "u1": "Normans"}, refs)
    assert s["em"] == pytest.approx(200 / 3) and s["NoAns_f1"] == 0.0
    s = metrics.squad_v2_scores({**gold, "u1": "Normans", "a1": "to Normandy"}, refs)
    assert s["em"] == pytest.approx(100 / 3)
    assert s["f1"] == pytest.approx(100 * (2 / 3 + 1) / 3)


# --------------------------------------------------------------------------- tagging


def test_panx_load_and_score(tmp_path):
    write(tmp_path / "en" / "train", "en:EU\tB-ORG\nen:rejects\tO\n")
    write(tmp_path / "en" / "dev", "en:Lyon\tB-LOC\n")
    write(tmp_path / "en" / "test", "en:Lyon\tB-LOC\n")
    write(tmp_path / "de" / "dev", "de:Lyon\tB-LOC\n")
    write(tmp_path / "de" / "test", "de:Die\tO\nde:Deutsche\tB-ORG\nde:Bank\tI-ORG\n\n"
          "de:Angela\tB-PER\nde:Merkel\tI-PER\nde:in\tO\nde:Berlin\tB-LOC\n")
    task = REGISTRY["panx"]
    assert task.metric == "f1"
    recs = load("panx", tmp_path, ["de"])[("de", "test")]
    gold = [r["tags"] for r in recs]
    assert gold == [["O", "B-ORG", "I-ORG"], ["B-PER", "I-PER", "O", "B-LOC"]]
    assert metrics.tagging_f1(gold, gold) == 100.0
    # ORG cut to "Deutsche": 3 predicted entities, 2 right, of 3 gold -> P = R = F1 = 2/3
    pred = [["O", "B-ORG", "O"], gold[1]]
    assert metrics.tagging_f1(gold, pred) == pytest.approx(200 / 3)
    # PER typed as ORG and LOC missed: 2 predicted (ORG right), 3 gold -> P=1/2, R=1/3, F1=2/5
    pred = [gold[0], ["B-ORG", "I-ORG", "O", "O"]]
    assert metrics.tagging_f1(gold, pred) == pytest.approx(40.0)


def test_real_udpos_load_and_score():
    task = REGISTRY["udpos"]
    assert task.metric == "f1"
    data = load("udpos", need_real("ud"), ["zh"])
    recs = data[("en", "dev")]
    assert len(recs) == 2001
    gold = [r["tags"] for r in recs]
    assert metrics.tagging_f1(gold, gold) == 100.0
    first = gold[0]
    assert first == ["ADP", "DET", "PROPN", "VERB", "DET", "NOUN", "PUNCT"]
    # seqeval reads NOUN as prefix N, type OUN; neighbouring types all differ, so each of the
    # 7 tags is its own chunk. "story" NOUN -> VERB: 6 of 7 chunks right, P = R = F1 = 6/7
    pred = [["ADP", "DET", "PROPN", "VERB", "DET", "VERB", "PUNCT"]]
    assert metrics.tagging_f1([first], pred) == pytest.approx(600 / 7)
    # two equal neighbouring tags merge into one chunk: DET NOUN -> NOUN NOUN makes 1 wrong
    # (merged) chunk of 6 predicted where 2 gold chunks are lost: P = 5/6, R = 5/7
    pred = [["ADP", "DET", "PROPN", "VERB", "NOUN", "NOUN", "PUNCT"]]
    p, r = 5 / 6, 5 / 7
    assert metrics.tagging_f1([first], pred) == pytest.approx(100 * 2 * p * r / (p + r))
    zh = data[("zh", "test")]
    assert len(zh) == 500
    zgold = [r["tags"] for r in zh[:20]]
    assert metrics.tagging_f1(zgold, zgold) == 100.0


def test_ccg_load_and_score(tmp_path):
    write_ccgbank(tmp_path)
    task = REGISTRY["ccg"]
    assert task.metric == "acc"
    data = load("ccg", tmp_path, ["en"])
    train = [r["tags"] for r in data[("en", "train")]]
    assert [len(t) for t in train] == [4, 2]
    assert metrics.token_accuracy(train, train) == 100.0
    # one of 6 tokens wrong: 5/6
    pred = [["N", "N", "(S[dcl]\\NP)/NP", "NP"], train[1]]
    assert metrics.token_accuracy(train, pred) == pytest.approx(500 / 6)
    # dev's second token is the unknown category, which the pipeline never predicts
    # (extra["never_predict"]): the best possible dev score is 1 of 2 tokens
    dev = [r["tags"] for r in data[("en", "dev")]]
    assert dev == [["NP", rd.CCG_UNKNOWN]]
    assert rd.CCG_UNKNOWN in task.extra["never_predict"]
    assert metrics.token_accuracy(dev, [["NP", "S[dcl]\\NP"]]) == 50.0


# --------------------------------------------------------------------------- retrieval


@pytest.mark.parametrize("name", ["tatoeba", "tatoeba_r"])
def test_real_tatoeba_load_and_score(name):
    """Top-1 cosine accuracy (XTREME's en -> xx search) on real pairs: embeddings that
    identify each pair (one-hot of its index, source and target alike) retrieve everything;
    swapping two targets loses 2."""
    data = load(name, need_real("tatoeba"), ["jv", "kk"])
    for lang, n in (("jv", 205), ("kk", 575)):
        recs = data[(lang, "test")]
        assert len(recs) == n
        assert REGISTRY[name].metric == "acc"
        src = np.eye(n, dtype=np.float32)
        tgt = src.copy()
        assert retrieval.tatoeba_accuracy(src, tgt) == 100.0
        tgt[[0, 1]] = tgt[[1, 0]]
        assert retrieval.tatoeba_accuracy(src, tgt) == pytest.approx(100 * (n - 2) / n)
    # text-keyed embeddings: a "perfect translator" embeds each source as its English line;
    # the 205 Javanese-side English lines are distinct, so all are retrieved. An encoder that
    # embeds every source as the first English line gets only row 0 right: 1/205
    jv = data[("jv", "test")]
    vocab = {t: i for i, t in enumerate(dict.fromkeys(r["target"] for r in jv))}
    assert len(vocab) == 205
    tgt = np.eye(len(vocab))[[vocab[r["target"]] for r in jv]]
    src = np.eye(len(vocab))[[vocab[r["target"]] for r in jv]]
    assert retrieval.tatoeba_accuracy(src, tgt) == 100.0
    collapsed = np.eye(len(vocab))[[0] * len(jv)]
    assert retrieval.tatoeba_accuracy(collapsed, tgt) == pytest.approx(100 / 205)
    # the direction is XTREME's, en -> xx: English lines that all lean towards source 0 (a hub)
    # retrieve it, so only pair 0 is right, although every source's nearest English line is
    # its own translation (xx -> en would score 100)
    hub = src.copy()
    hub[:, 0] += 2.0
    assert retrieval.tatoeba_accuracy(src, hub) == pytest.approx(100 / 205)
    assert metrics.retrieval_accuracy(src, hub) == 100.0


def _bucc_gold(records: list[dict]) -> set[tuple[str, str]]:
    """Gold pairs of one mining split, as evaluation._mining_split takes them."""
    cands = {r["id"] for r in records if r["role"] == "candidate"}
    return {(r["id"], t) for r in records if r["role"] == "query" for t in r["relevant"]
            if t in cands}


def test_bucc_load_and_score(tmp_path):
    """BUCC F1 with the threshold chosen on dev (sample) and applied to test (training), on
    candidate scores as mining produces them."""
    write_bucc(tmp_path, "de")
    task = REGISTRY["bucc"]
    assert task.retrieval_kind == "mining" and task.metric == "f1"
    data = load("bucc", tmp_path, ["de"])
    dev_gold, test_gold = _bucc_gold(data[("de", "dev")]), _bucc_gold(data[("de", "test")])
    pairs = {("de-000000001", "en-000000002"), ("de-000000003", "en-000000001")}
    assert dev_gold == test_gold == pairs
    # dev: both gold pairs at 1.2 / 1.1, a wrong pair at 0.9 -> best F1 after the second
    # candidate; threshold = (1.1 + 0.9) / 2 = 1.0
    dev_scores = {("de-000000001", "en-000000002"): 1.2, ("de-000000003", "en-000000001"): 1.1,
                  ("de-000000002", "en-000000003"): 0.9}
    threshold = retrieval.optimize_threshold(dev_scores, dev_gold)
    assert threshold == pytest.approx(1.0)
    # gold-ranked test scores: exactly the gold pairs pass -> 100
    assert retrieval.mining_prf(retrieval.extract(dev_scores, threshold), test_gold) == \
        {"f1": 100.0, "precision": 100.0, "recall": 100.0}
    # test with one gold pair below the threshold and a wrong one above: P = R = F1 = 1/2
    test_scores = {("de-000000001", "en-000000002"): 1.3, ("de-000000003", "en-000000001"): 0.95,
                   ("de-000000002", "en-000000003"): 1.05}
    mined = retrieval.extract(test_scores, threshold)
    assert mined == {("de-000000001", "en-000000002"), ("de-000000002", "en-000000003")}
    assert retrieval.mining_prf(mined, test_gold) == pytest.approx(
        {"f1": 50.0, "precision": 50.0, "recall": 50.0})


def _map_at_20(queries: list[dict], pool: list[str], ranked: dict[str, list[str]]) -> float:
    """mAP@20 (0-100) as evaluation.predict_ranking computes it from ranked candidate ids."""
    in_pool = set(pool)
    aps = [retrieval.average_precision_at_k(in_pool.intersection(q["relevant"]), ranked[q["id"]],
                                            retrieval.TOP_K) for q in queries]
    return 100.0 * float(np.mean(aps))


def _gold_ranking(q: dict, pool: list[str]) -> list[str]:
    return sorted(q["relevant"]) + [c for c in pool if c not in q["relevant"]]


def test_lareqa_load_and_score(tmp_path):
    write_xquad_r(tmp_path)
    task = REGISTRY["lareqa"]
    assert task.retrieval_kind == "ranking" and task.metric == "map_at_20"
    data = load("lareqa", tmp_path, ["de", "zh"])
    pool = [c["id"] for c in data[("en", "candidates")]]
    queries = data[("de", "test")]
    assert {q["id"]: q["relevant"] for q in queries} == {
        "q1_de": ["de_1_0", "en_1_0", "zh_1_0"], "q2_de": ["de_2_0", "de_2_1", "en_2_0"]}
    gold = {q["id"]: _gold_ranking(q, pool) for q in queries}
    assert _map_at_20(queries, pool, gold) == 100.0
    # q1_de ranks a wrong candidate first: AP = (1/2 + 2/3 + 3/4) / 3 = 23/36; q2_de AP = 1
    wrong = {**gold, "q1_de": ["en_2_1", *gold["q1_de"]]}
    assert _map_at_20(queries, pool, wrong) == pytest.approx(100 * (23 / 36 + 1) / 2)
    # cosine ranking (rank_candidates): a query embedded as its relevant zh candidate
    emb = np.eye(len(pool), dtype=np.float32)
    top = retrieval.rank_candidates(emb[[pool.index("zh_1_0")]], emb, retrieval.TOP_K,
                                    use_faiss=False)
    assert top.shape == (1, len(pool)) and pool[int(top[0, 0])] == "zh_1_0"


def test_mewslix_load_and_score(tmp_path):
    write_mewslix(tmp_path)
    task = REGISTRY["mewslix"]
    assert task.retrieval_kind == "ranking" and task.metric == "map_at_20"
    data = load("mewslix", tmp_path, ["ja", "uk"])
    pool = [c["id"] for c in data[("en", "candidates")]]
    assert len(pool) == 5
    queries = data[("ja", "test")]
    assert [(q["id"], q["relevant"]) for q in queries] == [("ja-1", ["Q1490"]),
                                                           ("ja-2", ["Q39231"])]
    gold = {q["id"]: _gold_ranking(q, pool) for q in queries}
    assert _map_at_20(queries, pool, gold) == 100.0
    # ja-2's entity ranked second: AP = 1/2 -> mAP = (1 + 1/2) / 2
    wrong = {**gold, "ja-2": ["Q2", "Q39231", "Q17"]}
    assert _map_at_20(queries, pool, wrong) == pytest.approx(75.0)
    # relevant entity missing from the top 20: AP = 0 -> mAP = 1/2
    assert _map_at_20(queries, pool, {**gold, "ja-2": ["Q2", "Q17"]}) == pytest.approx(50.0)


# --------------------------------------------------------------------------- coverage


def test_suite_covers_every_non_embedded_task():
    """Every registered task with a local loader is scored above; a new task must be added."""
    covered = set(ACC_CASES) | set(QA_CASES) | {
        "squad2", "panx", "udpos", "ccg", "tatoeba", "tatoeba_r", "bucc", "lareqa", "mewslix"}
    assert covered == set(SUITE)
    with_local = {name for name, t in REGISTRY.items()
                  if t.load_local is not None and name in SUITE}
    assert with_local == set(SUITE)
    for name in REGISTRY:
        if name not in SUITE:  # the embedded study tasks (cldr_*, xcat_*, xname_retrieval)
            assert name.startswith(("cldr_", "xcat_", "xname_")), name


# --------------------------------------------------------------------------- hub revisions

SHA40 = re.compile(r"[0-9a-f]{40}")


def _hub_sources():
    """Every HubSource the hub loaders read: each task's own, plus the helper repos (SQuAD
    train/dev of the QA targets, COPA of XCOPA, Tatoeba)."""
    from xstilts.tasks import xtreme

    sources = {f"task {name}": t.hub for name, t in REGISTRY.items() if t.hub is not None}
    sources.update({"SQUAD_HUB": xtreme.SQUAD_HUB, "COPA_HUB": xtreme.COPA_HUB,
                    "TATOEBA_HUB": xtreme.TATOEBA_HUB})
    return sources


def test_every_hub_source_is_pinned_or_explicitly_unpinned():
    """A hub source without a commit sha must be listed in xtreme.UNPINNED_HUB_REPOS (documented
    there: no public pin found), so adding an unpinned repo by accident fails here."""
    from xstilts.tasks import xtreme

    sources = _hub_sources()
    assert len(sources) > 20
    unpinned = {where: src.path for where, src in sources.items() if src.revision is None}
    assert set(unpinned.values()) <= xtreme.UNPINNED_HUB_REPOS, unpinned
    for where, src in sources.items():
        if src.revision is not None:
            assert SHA40.fullmatch(src.revision), (where, src.revision)
        if src.parquet_revision is not None:
            assert SHA40.fullmatch(src.parquet_revision), (where, src.parquet_revision)
            assert src.parquet_revision != src.revision, where  # two branches, two commits
    # the allow-list holds only repos actually used, and none of them is pinned somewhere else
    paths = {src.path for src in sources.values()}
    assert xtreme.UNPINNED_HUB_REPOS <= paths
    assert not {src.path for src in sources.values() if src.revision is not None} \
        & xtreme.UNPINNED_HUB_REPOS
    # one commit per repo: configs of the same repo are read at the same revision
    by_repo: dict[str, set] = {}
    for src in sources.values():
        by_repo.setdefault(src.path, set()).add((src.revision, src.parquet_revision))
    assert all(len(revs) == 1 for revs in by_repo.values()), by_repo
    assert REGISTRY["cosmosqa"].hub.parquet_revision == "ed50fe83db62b355759053b1cd5eef344ee371e0"
    assert REGISTRY["socialiqa"].hub.parquet_revision == \
        "537a2ec8ec565adc0b70b70752893e59e024df26"
    assert xtreme.TATOEBA_HUB.revision == "9080400076fbadbb4c4dcb136ff4eddc40b42553"


def test_hub_load_passes_the_pinned_revisions(monkeypatch):
    """hub_load reads the pinned revision; a loading-script repo falls back to its Parquet
    export at parquet_revision when set, else at PARQUET_EXPORT (the branch's latest commit)."""
    import datasets

    from xstilts.tasks import xtreme
    from xstilts.tasks.core import HubSource

    calls = []
    scripts = {"org/script"}

    def load_dataset(path, name=None, **kwargs):
        calls.append((path, name, kwargs))
        if path in scripts and kwargs.get("data_dir") is None:
            raise RuntimeError("Dataset scripts are no longer supported, but found script.py")
        return f"ds:{path}"

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    # whether a repo is a loading script is asked of the hub up front (tests/hub: for real)
    monkeypatch.setattr(xtreme, "is_loading_script", lambda src: src.path in scripts)
    sha, parquet = "1" * 40, "2" * 40

    assert xtreme.hub_load(HubSource("org/plain", "cfg", sha), "train") == "ds:org/plain"
    assert calls == [("org/plain", "cfg", {"revision": sha, "split": "train"})]

    calls.clear()
    pinned = HubSource("org/script", None, sha, parquet_revision=parquet)
    assert xtreme.hub_load(pinned, "validation", config="en") == "ds:org/script"
    assert calls == [("org/script", None, {"data_dir": "en", "revision": parquet,
                                           "split": "validation"})]

    calls.clear()
    xtreme.hub_load(HubSource("org/script", revision=sha), "train")
    assert calls[-1] == ("org/script", None, {"data_dir": "default",
                                              "revision": xtreme.PARQUET_EXPORT,
                                              "split": "train"})

    # the registry's own sources: cosmos_qa (a script at its main pin) reads the export pin
    calls.clear()
    scripts.add("allenai/cosmos_qa")
    xtreme.hub_load(REGISTRY["cosmosqa"].hub, "train")
    assert [c[2]["revision"] for c in calls] == ["ed50fe83db62b355759053b1cd5eef344ee371e0"]
    calls.clear()
    xtreme.hub_load(REGISTRY["xnli"].hub, "test", config="de")
    assert calls == [("facebook/xnli", "de", {"revision": REGISTRY["xnli"].hub.revision,
                                              "split": "test"})]
