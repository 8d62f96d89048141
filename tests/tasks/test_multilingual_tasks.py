"""Multilingual intermediate QA data of study 2: the embedded `cldr_qa` task and the local
readers of `tydiqa_train` (TyDiQA-GoldP train) and `squad_translate_train` (XTREME's
translate-train SQuAD), on files the tests write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xstilts.core.data import prepare_task
from xstilts.core.params import TaskSource
from xstilts.tasks import REGISTRY
from xstilts.tasks import embedded as emb


@pytest.fixture(scope="module")
def cldr_qa() -> dict:
    return emb.build_cldr_qa(0)


def test_cldr_qa_declares_train_splits_in_every_language():
    task = REGISTRY["cldr_qa"]
    assert task.train_languages == emb.LANGUAGES
    assert task.extra["role"] == "intermediate"
    assert REGISTRY["xcat_qa"].train_languages == ("en",)  # targets: English train only
    assert REGISTRY["cldr_region"].train_languages == ("en",)


def test_cldr_qa_answers_are_the_question_countrys_currency(cldr_qa):
    tender = emb.current_tender()
    for (lang, split), records in cldr_qa.items():
        names = emb.name_index(lang)
        assert len(records) == (300 if split == "train" else 150)
        for rec in records:
            country, answer = names[rec["question"]], names[rec["answers"]["text"][0]]
            start = rec["answers"]["answer_start"][0]
            assert rec["context"][start:start + len(rec["answers"]["text"][0])] == \
                rec["answers"]["text"][0]
            assert country.category == "country" and answer.category == "currency"
            assert answer.code in tender[country.code]
            assert country.split == split  # train bucket for train, dev bucket for dev


def test_cldr_qa_never_uses_a_test_entity_and_is_sampled_per_language(cldr_qa):
    """No entity of the targets' test sets appears (names in the context are looked up in the
    lexicon); each language has its own sample (native data)."""
    for (lang, _split), records in cldr_qa.items():
        names = emb.name_index(lang)
        for rec in records[:60]:
            assert names[rec["question"]].split != "test"
            found = [n for n in names if n in rec["context"]]
            # names inside a longer found name ("Indonesia" in "Indonesian Rupiah") are not members
            members = [names[n] for n in found if not any(n != m and n in m for m in found)]
            assert len(members) >= 3 and all(e.split != "test" for e in members), members
    questions = {lang: [r["question"] for r in cldr_qa[(lang, "train")]] for lang in ("en", "de")}
    en_codes = [emb.name_index("en")[q].code for q in questions["en"]]
    de_codes = [emb.name_index("de")[q].code for q in questions["de"]]
    assert en_codes != de_codes  # not a translation of the English set
    assert emb.build_cldr_qa(0)[("de", "train")] == cldr_qa[("de", "train")]  # deterministic


def _squad_json(path: Path, qas: list[tuple[str, str, str, str]]) -> Path:
    """A SQuAD-format file of (id, question, context, answer) questions."""
    paragraphs = [{"context": c, "qas": [{"id": i, "question": q, "answers": [
        {"text": a, "answer_start": c.index(a)}]}]} for i, q, c, a in qas]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "t",
                                                             "paragraphs": paragraphs}]}),
                    encoding="utf-8")
    return path


def _squad_files(root: Path) -> None:
    _squad_json(root / "squad" / "train-v1.1.json",
                [("s1", "Who?", "Ada wrote it.", "Ada"), ("s2", "What?", "A poem.", "poem")])
    _squad_json(root / "squad" / "dev-v1.1.json", [("d1", "Who?", "Bob read it.", "Bob")])


def test_tydiqa_train_local_splits_the_goldp_train_file_by_language(tmp_path):
    _squad_files(tmp_path)
    _squad_json(tmp_path / "tydiqa" / "tydiqa-goldp-v1.1-train.json", [
        ("english-1-0", "Who?", "Eve came.", "Eve"),
        ("arabic-2-0", "من؟", "جاء علي.", "علي"),
        ("arabic-3-0", "ماذا؟", "كتاب جديد.", "كتاب"),
        ("finnish-4-0", "Kuka?", "Matti tuli.", "Matti")])
    task = REGISTRY["tydiqa_train"]
    assert set(task.train_languages) == {"en", "ar", "bn", "fi", "id", "ko", "ru", "sw", "te"}
    data = task.load_local(task, tmp_path / "tydiqa", ["ar", "fi"])
    assert sorted(data) == [("ar", "train"), ("en", "dev"), ("en", "train"), ("fi", "train")]
    assert [r["id"] for r in data[("ar", "train")]] == ["arabic-2-0", "arabic-3-0"]
    assert [r["id"] for r in data[("en", "train")]] == ["english-1-0"]
    assert [r["id"] for r in data[("en", "dev")]] == ["d1"]  # English dev = SQuAD v1.1 dev
    with pytest.raises(FileNotFoundError, match="ko"):
        task.load_local(task, tmp_path / "tydiqa", ["ko"])
    counts = prepare_task("tydiqa_train", TaskSource(source="local", path=str(tmp_path / "tydiqa"),
                                                     languages=["ar", "fi"]),
                          tmp_path / "prepared")
    assert counts["train"] == {"ar": 2, "en": 1, "fi": 1} and counts["dev"] == {"en": 1}
    assert (tmp_path / "prepared" / "ar" / "train").is_dir()


def test_translate_train_local_reads_one_file_per_language(tmp_path):
    root = tmp_path / "xtreme" / "squad" / "translate-train"
    _squad_files(tmp_path / "xtreme")
    _squad_json(tmp_path / "xtreme" / "squad" / "train-v1.1.json",
                [("s1", "Who?", "Ada wrote it.", "Ada")])
    _squad_json(root / "squad.translate.train.en-de.json",
                [("s1", "Wer?", "Ada schrieb es.", "Ada"), ("s2", "Was?", "Ein Gedicht.",
                                                            "Gedicht")])
    task = REGISTRY["squad_translate_train"]
    assert {"de", "zh", "hi", "ar"} <= set(task.train_languages)
    data = task.load_local(task, root, ["de"])
    assert sorted(data) == [("de", "train"), ("en", "dev"), ("en", "train")]
    assert data[("de", "train")][1]["answers"] == {"text": ["Gedicht"], "answer_start": [4]}
    with pytest.raises(FileNotFoundError, match="squad.translate.train.en-zh.json"):
        task.load_local(task, root, ["zh"])
