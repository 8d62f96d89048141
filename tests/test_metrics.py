"""Metrics on hand-computed examples (SQuAD v1.1, MLQA, seqeval, Tatoeba accuracy)."""

import json
from pathlib import Path

import numpy as np
import pytest

from xstilts.metrics import (
    accuracy,
    normalize_answer,
    retrieval_accuracy,
    squad_scores,
    tagging_f1,
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
