"""Metrics on hand-computed examples (SQuAD v1.1, MLQA, seqeval, Tatoeba accuracy)."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from xstilts.core.metrics import (
    accuracy,
    normalize_answer,
    retrieval_accuracy,
    squad_scores,
    squad_v2_exact,
    squad_v2_f1,
    squad_v2_golds,
    squad_v2_scores,
    tagging_counts,
    tagging_f1,
    token_accuracy,
    xtreme_qa_score,
)

XQUAD_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "xquad"


# --- accuracy -------------------------------------------------------------------------------


def test_accuracy_counts_matches() -> None:
    assert accuracy([1, 2, 3, 4], [1, 2, 0, 4]) == 75.0
    assert accuracy(["entailment"], ["entailment"]) == 100.0


def test_accuracy_rejects_length_mismatch() -> None:
    with pytest.raises(ValueError, match="3 predictions but 2 labels"):
        accuracy([1, 2, 3], [1, 2])


# --- SQuAD v1.1 -----------------------------------------------------------------------------


def test_squad_v11_hand_computed() -> None:
    references = {
        "q1": ["the Eiffel Tower"],  # article + punctuation + case -> EM
        "q2": ["Denver Broncos"],  # P=2/3, R=1 -> F1 0.8
        "q3": ["1999", "in 1999"],  # max over golds: 0.5 vs 0.8
        "q4": ["Paris"],  # unanswered -> 0
        "q5": ["an apple"],
    }
    predictions = {
        "q1": "Eiffel tower.",
        "q2": "the Denver Broncos team",
        "q3": "in the year 1999",
        "q5": "Apple!",
        "extra": "ignored",
    }
    scores = squad_scores(predictions, references)
    assert scores["em"] == pytest.approx(100 * 2 / 5)
    assert scores["f1"] == pytest.approx(100 * (1 + 0.8 + 0.8 + 0 + 1) / 5)


def test_squad_v11_normalisation_details() -> None:
    assert normalize_answer("  The  Cat's   A-Team ") == "cats ateam"
    assert normalize_answer("banana another theory") == "banana another theory"  # \b only
    # SQuAD v1.1 strips ASCII punctuation only: curly quotes stay.
    assert normalize_answer("\u201cParis\u201d") == "\u201cparis\u201d"
    assert squad_scores({"q": "\u201cParis\u201d"}, {"q": ["Paris"]}) == {"em": 0.0, "f1": 0.0}


def test_squad_empty_prediction_scores_zero_f1() -> None:
    assert squad_scores({"q": ""}, {"q": ["a"]}) == {"em": 100.0, "f1": 0.0}  # both normalise to ""
    assert squad_scores({"q": ""}, {"q": ["Paris"]}) == {"em": 0.0, "f1": 0.0}


def test_squad_scores_input_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        squad_scores({}, {})
    with pytest.raises(TypeError, match="list of answer strings"):
        squad_scores({"q": "x"}, {"q": "x"})  # type: ignore[dict-item]


def test_xtreme_qa_score() -> None:
    assert xtreme_qa_score(40.0, 72.0) == 56.0


# --- MLQA -----------------------------------------------------------------------------------


def test_mlqa_german_articles() -> None:
    references = {"d1": ["der Vertrag von Versailles"], "d2": ["dem Kaiser"], "d3": ["Dieselmotor"]}
    predictions = {"d1": "Vertrag von Versailles", "d2": "einem Kaiser", "d3": "die Dieselmotor"}
    assert squad_scores(predictions, references, "de") == {"em": 100.0, "f1": 100.0}
    # The same pair under SQuAD v1.1 keeps 'der': P=1, R=3/4 -> F1 6/7.
    squad = squad_scores({"d1": predictions["d1"]}, {"d1": references["d1"]}, "de", script="squad")
    assert squad["em"] == 0.0
    assert squad["f1"] == pytest.approx(100 * 6 / 7)


def test_mlqa_chinese_mixed_segmentation() -> None:
    assert normalize_answer("2008年奥运会", "zh") == "2008 年 奥 运 会"
    assert normalize_answer("iPhone 手机", "zh") == "iphone 手 机"
    references = {"z1": ["北京大学"], "z2": ["2008年奥运会"], "z3": ["红楼梦"]}
    predictions = {"z1": "北京", "z2": "2008年", "z3": "《红楼梦》"}
    scores = squad_scores(predictions, references, "zh")
    # z1: 2 of 4 chars, P=1 R=1/2 -> 2/3; z2: 2 of 5 tokens -> 4/7; z3: CJK brackets stripped -> 1.
    assert scores["em"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (2 / 3 + 4 / 7 + 1) / 3)
    # Under SQuAD v1.1 a Chinese answer is one whitespace token: partial overlap scores 0.
    assert squad_scores({"z1": "北京"}, {"z1": ["北京大学"]}, "zh", script="squad")["f1"] == 0.0


def test_mlqa_arabic_punctuation_and_al() -> None:
    # '،' (U+060C) and '؟' (U+061F) are Unicode punctuation, removed by MLQA only.
    assert squad_scores({"a": "القاهرة،"}, {"a": ["القاهرة"]}, "ar") == {"em": 100.0, "f1": 100.0}
    assert squad_scores({"a": "القاهرة؟"}, {"a": ["القاهرة"]}, "ar", script="squad")["em"] == 0.0
    # 'ال' is removed wherever it occurs, also inside a word (the official regex does this).
    assert normalize_answer("مصر الجديدة", "ar") == "مصر جديدة"
    assert normalize_answer("سلالة", "ar") == "سل ة"
    scores = squad_scores({"a": "مصر"}, {"a": ["مصر الجديدة"]}, "ar")
    assert scores["em"] == 0.0
    assert scores["f1"] == pytest.approx(100 * 2 / 3)


def test_mlqa_hindi_danda_no_articles() -> None:
    assert normalize_answer("भारत।", "hi") == "भारत"
    assert squad_scores({"h": "भारत।"}, {"h": ["भारत"]}, "hi") == {"em": 100.0, "f1": 100.0}
    assert squad_scores({"h": "भारत।"}, {"h": ["भारत"]}, "hi", script="squad")["em"] == 0.0
    assert normalize_answer("a the", "hi") == "a the"


def test_mlqa_spanish_and_vietnamese_articles() -> None:
    references = {"s1": ["la Casa Blanca"], "s2": ["los Estados Unidos"], "s3": ["el río Amazonas"]}
    predictions = {"s1": "Casa Blanca", "s2": "unos Estados Unidos", "s3": "río"}
    scores = squad_scores(predictions, references, "es")
    assert scores["em"] == pytest.approx(100 * 2 / 3)
    assert scores["f1"] == pytest.approx(100 * (1 + 1 + 2 / 3) / 3)
    assert normalize_answer("những cái bàn", "vi") == "bàn"


def test_mlqa_english_adds_unicode_punctuation() -> None:
    pred, gold = {"q": "\u201cParis\u201d"}, {"q": ["Paris"]}
    assert squad_scores(pred, gold, "en")["em"] == 0.0  # SQuAD v1.1 by default
    assert squad_scores(pred, gold, "en", script="mlqa")["em"] == 100.0


def test_language_without_mlqa_rules() -> None:
    # 'auto' falls back to SQuAD v1.1 (XTREME's rule for XQuAD); forcing MLQA is an error.
    assert squad_scores({"q": "the Kremlin"}, {"q": ["Kremlin"]}, "ru")["em"] == 100.0
    with pytest.raises(ValueError, match="'ru'"):
        squad_scores({"q": "x"}, {"q": ["x"]}, "ru", script="mlqa")


# --- tagging --------------------------------------------------------------------------------


def test_tagging_f1_entity_level() -> None:
    references = [
        ["B-PER", "I-PER", "O", "B-LOC"],
        ["B-ORG", "I-ORG", "I-ORG", "O"],
        ["O", "B-MISC", "O"],
    ]
    predictions = [
        ["B-PER", "I-PER", "O", "B-LOC"],
        ["B-ORG", "I-ORG", "O", "O"],  # wrong right boundary: ORG(0-1) != ORG(0-2)
        ["O", "O", "O"],  # missed MISC
    ]
    # 4 gold, 3 predicted, 2 correct: P=2/3, R=1/2 -> F1 = 4/7.
    assert tagging_f1(references, predictions) == pytest.approx(100 * 4 / 7)


def test_tagging_f1_default_mode_accepts_i_after_o() -> None:
    # seqeval's default (conlleval) mode reads a stray I-PER as the start of a PER entity.
    assert tagging_f1([["O", "B-PER"]], [["O", "I-PER"]]) == 100.0


def test_tagging_f1_length_errors() -> None:
    with pytest.raises(ValueError, match="sentence 1: 2 reference tags but 3 predicted"):
        tagging_f1([["O"], ["O", "O"]], [["O"], ["O", "O", "O"]])
    with pytest.raises(ValueError, match="2 reference sentences but 1 predicted"):
        tagging_f1([["O"], ["O"]], [["O"]])


# --- retrieval ------------------------------------------------------------------------------


def test_retrieval_accuracy_cosine() -> None:
    source = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    target = np.array([[1.0, 0.1], [0.1, 3.0], [1.0, -1.0]])
    # Row 2 is wrong: cos(s2, t0) = 0.77 > cos(s2, t1) = 0.73 > cos(s2, t2) = 0.
    assert retrieval_accuracy(source, target) == pytest.approx(100 * 2 / 3)
    # Cosine ignores norms: a long wrong target must not attract row 0 (a dot product would).
    scaled = target * np.array([[1.0], [1.0], [100.0]])
    assert retrieval_accuracy(source, scaled) == pytest.approx(100 * 2 / 3)
    assert retrieval_accuracy(source[:2], target[:2]) == 100.0


def test_retrieval_accuracy_ties_go_to_first_index() -> None:
    source = np.array([[1.0, 0.0], [1.0, 0.0]])
    target = np.array([[1.0, 0.0], [2.0, 0.0]])
    assert retrieval_accuracy(source, target) == 50.0


def test_retrieval_accuracy_shape_errors() -> None:
    with pytest.raises(ValueError, match="same shape"):
        retrieval_accuracy(np.zeros((3, 2)), np.zeros((2, 2)))


# --- real XQuAD files -----------------------------------------------------------------------


def _xquad_references(lang: str) -> dict[str, list[str]]:
    data = json.loads((XQUAD_DIR / f"xquad.{lang}.json").read_text(encoding="utf-8"))["data"]
    return {
        qa["id"]: [a["text"] for a in qa["answers"]]
        for article in data
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    }


# Language-specific punctuation appended to every answer in the perturbed set.
_SUFFIX = {"de": ".", "zh": "\u3002", "ar": "\u060c", "hi": "\u0964"}


@pytest.mark.skipif(not XQUAD_DIR.is_dir(), reason=f"real XQuAD files not found at {XQUAD_DIR}")
@pytest.mark.parametrize("lang", ["de", "zh", "ar", "hi"])
def test_real_xquad_gold_and_perturbed(lang: str) -> None:
    references = _xquad_references(lang)
    assert len(references) == 1190
    gold = {qid: answers[0] for qid, answers in references.items()}
    assert squad_scores(gold, references, lang) == {"em": 100.0, "f1": 100.0}

    # Blank every second prediction and drop every third: both score exactly 0.
    ids = list(references)
    kept = {qid: ("" if i % 2 else gold[qid]) for i, qid in enumerate(ids) if i % 3}
    n_right = sum(1 for i in range(len(ids)) if i % 3 and not i % 2)
    expected = 100 * n_right / len(ids)
    assert squad_scores(kept, references, lang) == pytest.approx({"em": expected, "f1": expected})

    # Trailing punctuation is stripped by both scripts for '.', by MLQA only for the others.
    suffixed = {qid: text + _SUFFIX[lang] for qid, text in gold.items()}
    assert squad_scores(suffixed, references, lang) == {"em": 100.0, "f1": 100.0}
    squad = squad_scores(suffixed, references, lang, script="squad")
    if lang == "de":
        assert squad == {"em": 100.0, "f1": 100.0}
    else:
        assert squad["em"] < 50.0


# --- SQuAD v2.0 (official evaluate-v2.0.py) --------------------------------------------------


def test_squad_v2_hand_computed_with_breakdown() -> None:
    references = {
        "a1": ["Denver Broncos", "the Broncos"],  # answerable
        "a2": ["Carolina Panthers"],  # answerable
        "u1": [],  # unanswerable: gold is ""
        "u2": [],
    }
    predictions = {
        "a1": "Broncos",  # = normalised "the Broncos": EM 1, F1 1
        "a2": "Carolina",  # P = 1/1, R = 1/2 -> F1 = 2/3, EM 0
        "u1": "",  # abstained: EM 1, F1 1
        "u2": "Panthers",  # answered an unanswerable question: EM 0, F1 0
    }
    s = squad_v2_scores(predictions, references)
    assert s["em"] == pytest.approx(100 * 2 / 4)
    assert s["f1"] == pytest.approx(100 * (1 + 2 / 3 + 1 + 0) / 4)
    assert s["HasAns_em"] == pytest.approx(50.0)
    assert s["HasAns_f1"] == pytest.approx(100 * (1 + 2 / 3) / 2)
    assert s["NoAns_em"] == s["NoAns_f1"] == pytest.approx(50.0)
    assert s["HasAns_total"] == s["NoAns_total"] == 2.0
    # v1.1 scores an empty prediction 0 even against an empty gold; v2.0 scores it 1
    assert squad_v2_f1("", "") == 1.0 and squad_v2_exact("", "") == 1.0
    assert squad_v2_f1("x", "") == 0.0 and squad_v2_f1("", "x") == 0.0


def test_squad_v2_normalisation_quirks() -> None:
    # A gold answer that normalises to nothing is dropped; none left -> the gold is "".
    assert squad_v2_golds(["The", "a."]) == [""]
    assert squad_v2_golds(["the", "Paris"]) == ["Paris"]
    # So a question whose only gold is "the" is HasAns but scored against "", and a prediction
    # of only articles/punctuation counts as abstaining (normalises to the empty string).
    s = squad_v2_scores({"q": "An!", "u": "the"}, {"q": ["the"], "u": []})
    assert s["em"] == s["f1"] == s["HasAns_f1"] == s["NoAns_f1"] == 100.0
    # Only the kinds present are reported.
    assert set(squad_v2_scores({"u": ""}, {"u": []})) == {"em", "f1", "NoAns_em", "NoAns_f1",
                                                          "NoAns_total"}


def test_squad_v2_non_latin_scripts() -> None:
    # SQuAD normalisation: lower-case (also Cyrillic), ASCII punctuation only, whitespace tokens.
    assert squad_v2_exact("Москва.", "москва") == 1.0
    # Chinese has no spaces: the whole answer is one token, so a partial overlap scores 0.
    assert squad_v2_f1("北京大学", "北京") == 0.0
    # "«" is not ASCII punctuation: it stays, so the tokens differ: 2 of 3 -> P 2/3, R 1.
    assert squad_v2_f1("« Война и", "Война и") == pytest.approx(0.8)
    s = squad_v2_scores({"ru": "Толстой", "zh": ""}, {"ru": ["Лев Толстой"], "zh": []})
    assert s["f1"] == pytest.approx(100 * (2 / 3 + 1) / 2)  # P 1, R 1/2 -> 2/3


def test_squad_v2_input_errors() -> None:
    with pytest.raises(ValueError, match="1 question\\(s\\) without a prediction"):
        squad_v2_scores({"a": "x"}, {"a": ["x"], "b": []})
    with pytest.raises(ValueError, match="references is empty"):
        squad_v2_scores({}, {})
    with pytest.raises(TypeError, match="list of answer strings"):
        squad_v2_scores({"a": "x"}, {"a": "x"})


# --- XTREME POS F1 (seqeval on raw UPOS tags) and CCG token accuracy ------------------------


def test_xtreme_pos_f1_is_not_token_accuracy() -> None:
    from seqeval.metrics import f1_score

    # 我/PRON 喜欢/VERB 猫/NOUN 。/PUNCT, predicted PRON VERB VERB PUNCT (one error).
    gold = [["PRON", "VERB", "NOUN", "PUNCT"]]
    pred = [["PRON", "VERB", "VERB", "PUNCT"]]
    # Token accuracy: 3 of 4 = 75.
    assert token_accuracy(gold, pred) == 75.0
    # seqeval reads "VERB" as prefix V + type "ERB", so the predicted VERB VERB is ONE chunk
    # (ERB, 1-2). Gold chunks: RON(0), ERB(1), OUN(2), UNCT(3) = 4; predicted: RON(0),
    # ERB(1-2), UNCT(3) = 3; correct: RON, UNCT = 2. P = 2/3, R = 2/4, F1 = 2PR/(P+R) = 4/7.
    assert tagging_f1(gold, pred) == pytest.approx(100 * 4 / 7)
    with pytest.warns(UserWarning):  # seqeval itself warns: "NOUN seems not to be NE tag"
        assert tagging_f1(gold, pred) == pytest.approx(100 * f1_score(gold, pred))
    # NOUN NOUN VERB vs NOUN ADJ VERB: accuracy 2/3, but gold has 2 chunks (OUN 0-1, ERB 2),
    # the prediction 3 (OUN 0, DJ 1, ERB 2), 1 correct: P 1/3, R 1/2 -> F1 = 2/5.
    assert tagging_f1([["NOUN", "NOUN", "VERB"]], [["NOUN", "ADJ", "VERB"]]) == 40.0
    assert token_accuracy([["NOUN", "NOUN", "VERB"]], [["NOUN", "ADJ", "VERB"]]) == \
        pytest.approx(100 * 2 / 3)


def test_udpos_and_ccg_declare_their_metric() -> None:
    from xstilts.tasks import REGISTRY

    assert REGISTRY["udpos"].metric == "f1" and REGISTRY["panx"].metric == "f1"
    assert REGISTRY["ccg"].metrics == ("acc",)
    assert REGISTRY["squad2"].metrics == ("f1", "em")


def _counts_f1(counts: np.ndarray) -> float:
    tp, n_pred, n_gold = counts.sum(0)
    return 200.0 * tp / (n_pred + n_gold) if tp else 0.0


def test_tagging_counts_sum_to_the_corpus_score() -> None:
    from seqeval.metrics import f1_score

    upos = ["ADJ", "ADP", "CCONJ", "INTJ", "NOUN", "PROPN", "SCONJ", "SYM", "VERB", "X", "O"]
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 5))
        gold = [list(rng.choice(upos, int(rng.integers(1, 5)))) for _ in range(n)]
        pred = [[t if rng.random() < 0.6 else str(rng.choice(upos)) for t in s] for s in gold]
        counts = tagging_counts(gold, pred)
        assert counts.shape == (n, 3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "... seems not to be NE tag", ill-defined F1
            expected = 100 * f1_score(gold, pred)
        assert _counts_f1(counts) == pytest.approx(expected), (gold, pred)
    # Joined as NOUN O X NOUN O: a sentence-initial X (type "_", like the joining O) opens no
    # chunk, so seqeval reports ("_", 0, 2), which begins in sentence 0; it is counted there.
    gold = [["NOUN"], ["X", "NOUN"]]
    assert tagging_counts(gold, gold).tolist() == [[2, 2, 2], [1, 1, 1]]


def test_ccg_token_accuracy_with_unknown_tag() -> None:
    # gold: Pierre/N/N Vinken/N works/<unk> (a category unseen in train: always wrong)
    gold = [["N/N", "N", "<unk>"], ["NP"]]
    pred = [["N/N", "NP", "S[dcl]\\NP"], ["NP"]]
    assert token_accuracy(gold, pred) == pytest.approx(100 * 2 / 4)
    counts = tagging_counts(gold, pred, "acc")
    assert counts.tolist() == [[1, 3, 3], [1, 1, 1]]
    assert _counts_f1(counts) == pytest.approx(50.0)  # = accuracy through the F1 formula
    with pytest.raises(ValueError, match="accuracy of an empty set"):
        token_accuracy([], [])
    with pytest.raises(ValueError, match="unknown tagging metric"):
        tagging_counts(gold, pred, "em")


UD_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "ud"


@pytest.mark.parametrize("name", ["en_ewt-ud-dev.conllu", "zh_gsd-ud-dev.conllu"])
def test_real_ud_pos_f1_counts(name: str) -> None:
    """Real UD sentences (English, Chinese): gold vs a prediction with every 7th tag replaced;
    the per-sentence counts reproduce seqeval's corpus F1, which differs from accuracy."""
    path = UD_DIR / name
    if not path.is_file():
        pytest.skip(f"shared real data not found at {path} (only on the shared workspace)")
    from xstilts.tasks import readers as rd

    gold = [r["tags"] for r in rd.read_conllu(path)[:300]]
    k = 0
    pred = []
    for sent in gold:
        row = []
        for t in sent:
            k += 1
            row.append(("NOUN" if t != "NOUN" else "VERB") if k % 7 == 0 else t)
        pred.append(row)
    f1 = tagging_f1(gold, pred)
    assert _counts_f1(tagging_counts(gold, pred)) == pytest.approx(f1)
    assert tagging_f1(gold, gold) == 100.0
    assert abs(f1 - token_accuracy(gold, pred)) > 0.5


@pytest.mark.skipif(not XQUAD_DIR.is_dir(), reason=f"real XQuAD files not found at {XQUAD_DIR}")
@pytest.mark.parametrize("lang", ["en", "ar"])
def test_real_xquad_as_squad_v2(lang: str) -> None:
    """Real XQuAD questions, every 4th made unanswerable: gold predictions score 100; answering
    "" everywhere scores exactly the unanswerable share (NoAns 100, HasAns 0)."""
    references = _xquad_references(lang)
    v2 = {qid: ([] if i % 4 == 0 else answers) for i, (qid, answers) in
          enumerate(references.items())}
    n_none = sum(1 for a in v2.values() if not a)
    gold = {qid: (answers[0] if answers else "") for qid, answers in v2.items()}
    s = squad_v2_scores(gold, v2)
    assert (s["em"], s["f1"], s["HasAns_f1"], s["NoAns_f1"]) == (100.0, 100.0, 100.0, 100.0)
    assert (s["HasAns_total"], s["NoAns_total"]) == (len(v2) - n_none, n_none)
    blank = squad_v2_scores({qid: "" for qid in v2}, v2)
    assert blank["em"] == blank["f1"] == pytest.approx(100 * n_none / len(v2))
    assert blank["HasAns_f1"] == 0.0 and blank["NoAns_em"] == 100.0
