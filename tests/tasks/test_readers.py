"""Tests of the official-format readers (xstilts.tasks.readers) and the XTREME task loaders
(xstilts.tasks.xtreme): real shared files where available, small official-format files written
to tmp_path otherwise, malformed inputs, and the hub loaders against a faked ``load_dataset``."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import datasets as hf_datasets
import pytest
from datasets import ClassLabel, Dataset, Features, Value
from datasets import Sequence as HFSequence

from xstilts.tasks import REGISTRY, xtreme
from xstilts.tasks import readers as rd
from xstilts.tasks.readers import DataFormatError

REAL = Path(__file__).parents[2].parent / "shared" / "data" / "real"

XTREME_TASKS = (
    "mnli", "qqp", "sst2", "anli", "squad", "hellaswag", "commonsenseqa", "cosmosqa", "socialiqa",
    "squad2", "snli", "xnli", "pawsx", "xquad", "mlqa", "tydiqa", "udpos", "panx", "tatoeba",
    "bucc", "xcopa",
)  # fmt: skip


@pytest.fixture(scope="module")
def real() -> Path:
    if not REAL.is_dir():
        pytest.skip(f"shared real data not found at {REAL} (only on the shared workspace)")
    return REAL


def validate(task_name: str, data: dict) -> None:
    """Every (lang, split) is declared and its records fit the canonical schema exactly."""
    task = REGISTRY[task_name]
    features = task.schema
    for (lang, split), records in data.items():
        assert split in task.splits[lang], (lang, split)
        assert records, (lang, split)
        ds = Dataset.from_list(records, features=features)
        assert len(ds) == len(records)
        for rec in records:
            assert set(rec) == set(features), rec
        ids = [r["id"] for r in records]
        assert len(ids) == len(set(ids)), f"duplicate ids in {lang}/{split}"
        if task.type in ("classification", "pair_classification"):
            assert all(0 <= r["label"] < len(task.labels) for r in records)
        if task.type == "multiple_choice":
            assert all(0 <= r["label"] < len(r["choices"]) for r in records)
        if task.type == "tagging":
            assert all(len(r["tokens"]) == len(r["tags"]) for r in records)
            assert {t for r in records for t in r["tags"]} <= set(task.labels)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def tsv(header: list[str], rows: list[list[str]]) -> str:
    return "".join("\t".join(r) + "\n" for r in [header, *rows])


def jsonl(objs: list[dict]) -> str:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs)


def assert_at(exc: pytest.ExceptionInfo, path: Path, line: int | None) -> None:
    err = exc.value
    assert err.path == Path(path)
    assert err.line == line
    where = f"{path}:{line}" if line is not None else str(path)
    assert str(err).startswith(f"{where}: "), str(err)


# --------------------------------------------------------------------------- registry


def test_tasks_registered_with_both_loaders():
    for name in XTREME_TASKS:
        task = REGISTRY[name]
        assert task.load_local is not None, name
        if name != "bucc":  # local only: the hub copies hold BUCC's gold pairs, not the corpora
            assert task.load_hub is not None and task.hub is not None, name
        assert set(task.splits) == set(task.languages), name
        if "en" in task.languages:
            assert task.languages[0] == "en"
            assert {"train", "dev"} <= set(task.splits["en"]), name
        if task.extra.get("role") == "target":
            evaluated = [lang for lang in task.languages if lang != "en"]
            assert all(task.has_split(lang, "test") for lang in evaluated), name
        if task.extra.get("role") == "retrieval":
            assert "en" not in task.languages


def test_language_sets_as_in_xtreme():
    assert len(REGISTRY["xnli"].languages) == 15
    assert len(REGISTRY["pawsx"].languages) == 7
    assert len(REGISTRY["xquad"].languages) == 11
    assert len(REGISTRY["mlqa"].languages) == 7
    assert len(REGISTRY["tydiqa"].languages) == 9
    assert len(REGISTRY["udpos"].languages) == 33
    assert len(REGISTRY["panx"].languages) == 40
    assert len(REGISTRY["tatoeba"].languages) == 36
    assert REGISTRY["bucc"].languages == ("de", "fr", "ru", "zh")
    assert len(REGISTRY["xcopa"].languages) == 12  # 11 + English COPA
    assert set(xtreme.UDPOS_TREEBANKS) >= set(xtreme.UDPOS_LANGUAGES)
    assert all(tb.startswith(lang + "_") for lang, tbs in xtreme.UDPOS_TREEBANKS.items()
               for tb in tbs)
    # MNLI and XNLI share the label order (XNLI's: entailment, neutral, contradiction)
    assert REGISTRY["mnli"].labels == REGISTRY["xnli"].labels == REGISTRY["anli"].labels
    assert REGISTRY["xnli"].labels == ("entailment", "neutral", "contradiction")


# google-research/xtreme evaluate.py TASK2LANGS (the languages its scorer averages over)
XTREME_TASK2LANGS = {
    "pawsx": "de,en,es,fr,ja,ko,zh",
    "xnli": "ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh",
    "panx": "ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,"
            "ja,ka,ko,th,sw,yo,my,zh,kk,tr,et,fi,hu",
    "udpos": "af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,nl,pt,ru,ta,te,th,"
             "tl,tr,ur,vi,yo,zh",
    "bucc": "de,fr,ru,zh",
    "tatoeba": "ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,"
               "ka,ko,th,sw,zh,kk,tr,et,fi,hu",
    "xquad": "en,es,de,el,ru,tr,ar,vi,th,zh,hi",
    "mlqa": "en,es,de,ar,hi,vi,zh",
    "tydiqa": "en,ar,bn,fi,id,ko,ru,sw,te",
}


@pytest.mark.parametrize("name", sorted(XTREME_TASK2LANGS))
def test_language_lists_are_xtremes(name):
    assert set(REGISTRY[name].languages) == set(XTREME_TASK2LANGS[name].split(","))


def test_unknown_language_and_missing_files(tmp_path):
    task = REGISTRY["xquad"]
    with pytest.raises(ValueError, match="no language"):
        task.load_local(task, tmp_path, ["xx"])
    with pytest.raises(FileNotFoundError, match="xquad.de.json"):
        task.load_local(task, tmp_path, ["de"])


# --------------------------------------------------------------------------- real shared files

XQUAD_REAL = ("en", "de", "es", "zh", "ar", "hi")
TATOEBA_REAL = {"af": 1000, "bg": 1000, "de": 1000, "es": 1000, "eu": 1000, "fi": 1000,
                "he": 1000, "hu": 1000, "it": 1000, "jv": 205, "kk": 575, "ml": 687, "nl": 1000,
                "ru": 1000, "ta": 307, "th": 548, "tr": 1000, "vi": 1000}
UD_REAL = {  # treebank: {split: (sentences, syntactic words)} from MANIFEST.md
    "en_ewt": {"dev": (2001, 25147), "test": (2077, 25094)},
    "de_gsd": {"dev": (799, 12480), "test": (977, 16499)},
    "fr_gsd": {"dev": (1476, 35721), "test": (416, 10018)},
    "es_gsd": {"dev": (1400, 37154), "test": (427, 12002)},
    "zh_gsd": {"dev": (500, 12665), "test": (500, 12010)},
}
XCOPA_REAL = ("et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh")


def test_real_xquad(real):
    task = REGISTRY["xquad"]
    data = task.load_local(task, real / "xquad", [lang for lang in XQUAD_REAL if lang != "en"])
    validate("xquad", data)
    assert set(data) == {(lang, "test") for lang in XQUAD_REAL}  # no SQuAD files: en test only
    for lang in XQUAD_REAL:
        recs = data[(lang, "test")]
        assert len(recs) == 1190
        assert len({r["context"] for r in recs}) == 240
    en = data[("en", "test")]
    assert en[0]["id"] == "56beb4343aeaaa14008c925b"
    assert en[0]["question"] == "How many points did the Panthers defense surrender?"
    assert en[0]["answers"] == {"text": ["308"], "answer_start": [34]}
    assert en[-1]["id"] == "5737a25ac3c5551400e51f54"
    de = data[("de", "test")][0]
    assert de["question"] == "Wie viele Punkte gab die Verteidigung der Panthers ab?"
    assert de["answers"] == {"text": ["308"], "answer_start": [38]}
    # parallel: the same question ids in every language
    assert [r["id"] for r in data[("zh", "test")]] == [r["id"] for r in en]


def test_real_tatoeba(real):
    task = REGISTRY["tatoeba"]
    data = task.load_local(task, real / "tatoeba", list(TATOEBA_REAL))
    validate("tatoeba", data)
    assert {lang: len(data[(lang, "test")]) for lang in TATOEBA_REAL} == TATOEBA_REAL
    assert data[("af", "test")][0] == {"id": "af-0", "source": "Haar Engels is uitstekend.",
                                       "target": "Her English is excellent."}
    assert data[("kk", "test")][-1] == {"id": "kk-574", "source": "Жер Күнді айналады.",
                                        "target": "The Earth revolves around the sun."}
    with pytest.raises(FileNotFoundError, match="tatoeba.ara-eng.ara"):
        task.load_local(task, real / "tatoeba", ["ar"])


@pytest.mark.parametrize("treebank", sorted(UD_REAL))
def test_real_ud_counts(real, treebank):
    for split, (n_sent, n_words) in UD_REAL[treebank].items():
        recs = rd.read_conllu(real / "ud" / f"{treebank}-ud-{split}.conllu")
        assert len(recs) == n_sent
        assert sum(len(r["tokens"]) for r in recs) == n_words
        assert {t for r in recs for t in r["tags"]} <= set(rd.UPOS_TAGS)


def test_real_udpos_loader(real):
    task = REGISTRY["udpos"]
    data = task.load_local(task, real / "ud", ["de", "fr", "es", "zh"])
    validate("udpos", data)
    assert set(data) == {(lang, s) for lang in ("en", "de", "fr", "es", "zh")
                         for s in ("dev", "test")}  # no train files in the shared copy
    lang_tb = {"en": "en_ewt", "de": "de_gsd", "fr": "fr_gsd", "es": "es_gsd", "zh": "zh_gsd"}
    for lang, tb in lang_tb.items():
        for split, (n_sent, _) in UD_REAL[tb].items():
            assert len(data[(lang, split)]) == n_sent
    first = data[("en", "dev")][0]
    assert first["id"] == ("en_ewt:weblog-blogspot.com_nominations_20041117172713_ENG_"
                           "20041117_172713-0001")
    assert first["tokens"] == ["From", "the", "AP", "comes", "this", "story", ":"]
    assert first["tags"] == ["ADP", "DET", "PROPN", "VERB", "DET", "NOUN", "PUNCT"]
    assert data[("fr", "test")][0]["tokens"][:4] == ["Je", "sens", "qu'", "entre"]


def test_real_ud_multiword_modes(real):
    path = real / "ud" / "fr_gsd-ud-dev.conllu"
    words = rd.read_conllu(path)
    fused = rd.read_conllu(path, multiword="fused", lang="fr")
    assert len(words) == len(fused) == 1476
    # 1057 two-word ranges (du = de + le, ...): one surface token instead of two
    assert sum(len(r["tokens"]) for r in fused) == 35721 - 1057
    pairs = Counter((t, g) for r in fused for t, g in zip(r["tokens"], r["tags"], strict=True))
    assert pairs[("du", "ADP")] > 300  # XTREME's fused "du" takes the ADP of its head word
    flat = [t for r in words for t in r["tokens"]]
    assert "du" not in {t.lower() for t in flat[:200]} and "de" in flat


def test_real_xcopa(real):
    task = REGISTRY["xcopa"]
    data = task.load_local(task, real / "xcopa", list(XCOPA_REAL))
    validate("xcopa", data)
    for lang in XCOPA_REAL:
        assert len(data[(lang, "dev")]) == 100
        assert len(data[(lang, "test")]) == 500
    assert data[("et", "dev")][0] == {
        "id": "et-0", "context": "Mees keeras kraani lahti. What was the effect?",
        "choices": ["Tualett täitus veega.", "Tilast voolas vett."], "label": 1,
    }
    assert data[("zh", "test")][0]["context"] == "该物品用气泡包装纸包着。 What was the cause?"
    assert ("en", "train") not in data  # COPA is not in the shared copy: skipped with a warning
    # Google-MT translate-test copies (data-gmt): same format, no qu
    for lang in XCOPA_REAL:
        path = real / "xcopa" / "data-gmt" / lang / f"test.{lang}.jsonl"
        if lang == "qu":
            assert not path.exists()
            continue
        recs = rd.read_copa_jsonl(path, template="jiant")
        assert len(recs) == 500
    gmt = rd.read_copa_jsonl(real / "xcopa/data-gmt/zh/test.zh.jsonl", template="jiant")[0]
    assert gmt["context"] == "The item is wrapped in bubble wrap. What was the cause of this?"
    assert gmt["choices"] == ["It is very fragile.", "It is very small."] and gmt["label"] == 0


def test_real_cosmosqa(real):
    task = REGISTRY["cosmosqa"]
    data = task.load_local(task, real / "cosmosqa", ["en"])
    validate("cosmosqa", data)
    dev = data[("en", "dev")]
    assert len(dev) == 2985
    assert dev[0]["id"].startswith("3BFF0DJK8XA7YNK4QYIGCOG1A95STE##")
    assert dev[0]["label"] == 1
    assert dev[0]["context"].endswith("Why is this person asking about divorce ?")
    assert dev[-1]["choices"] == ["Happy", "Pensive", "Observant", "None of the above choices ."]
    assert Counter(r["label"] for r in dev) == {0: 744, 1: 729, 2: 761, 3: 751}


# --------------------------------------------------------------------------- official formats
# (small files written in the official layout; formats absent from the shared copy)

MNLI_TRAIN_HEADER = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse",
                     "sentence2_binary_parse", "sentence1_parse", "sentence2_parse", "sentence1",
                     "sentence2", "label1", "gold_label"]
MNLI_DEV_HEADER = MNLI_TRAIN_HEADER[:11] + ["label2", "label3", "label4", "label5", "gold_label"]
XNLI_HEADER = ["language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse",
               "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "promptID",
               "pairID", "genre", "label1", "label2", "label3", "label4", "label5",
               "sentence1_tokenized", "sentence2_tokenized", "match"]


def mnli_row(i: int, s1: str, s2: str, label: str, dev: bool = False) -> list[str]:
    extra = [label] * 5 if dev else [label]
    return [str(i), "31193", f"{i}n", "government", "( ( x ) )", "( y )", "(ROOT x)", "(ROOT y)",
            s1, s2, *extra, label]


def xnli_row(lang: str, label: str, s1: str, s2: str, pair: str) -> list[str]:
    return [lang, label, "", "", "", "", s1, s2, "1", pair, "facetoface", label, label, label,
            label, label, s1, s2, "True"]


def write_mnli(root: Path) -> None:
    write(root / "train.tsv", tsv(MNLI_TRAIN_HEADER, [
        mnli_row(0, 'He said "yes".', "He agreed.", "entailment"),
        mnli_row(1, "It rained.", "It was dry.", "contradiction"),
        mnli_row(2, "A man sat.", "A man waited.", "neutral"),
    ]))
    write(root / "dev_matched.tsv", tsv(MNLI_DEV_HEADER, [
        mnli_row(9, "The cat slept.", "An animal slept.", "entailment", dev=True),
    ]))


def test_mnli_local(tmp_path):
    write_mnli(tmp_path)
    task = REGISTRY["mnli"]
    data = task.load_local(task, tmp_path, ["en"])
    validate("mnli", data)
    train = data[("en", "train")]
    assert [r["label"] for r in train] == [0, 2, 1]  # entailment, contradiction, neutral
    assert train[0] == {"id": "0n", "text_a": 'He said "yes".', "text_b": "He agreed.", "label": 0}
    assert data[("en", "dev")][0]["text_b"] == "An animal slept."


def test_qqp_and_sst2_local(tmp_path):
    write(tmp_path / "qqp" / "train.tsv", tsv(
        ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"],
        [["7", "15", "16", "How do I learn?", "How can I learn?", "1"],
         ["8", "17", "18", "Why?", "When?", "0"]]))
    write(tmp_path / "qqp" / "dev.tsv", tsv(
        ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"],
        [["9", "1", "2", "A?", "B?", "0"]]))
    task = REGISTRY["qqp"]
    data = task.load_local(task, tmp_path / "qqp", ["en"])
    validate("qqp", data)
    assert [(r["id"], r["label"]) for r in data[("en", "train")]] == [("7", 1), ("8", 0)]

    write(tmp_path / "sst" / "SST-2" / "train.tsv", "sentence\tlabel\nhide new secretions \t0\n"
          "a gorgeous film \t1\n")
    write(tmp_path / "sst" / "SST-2" / "dev.tsv", "sentence\tlabel\nit 's a charming trip . \t1\n")
    task = REGISTRY["sst2"]
    data = task.load_local(task, tmp_path / "sst", ["en"])
    validate("sst2", data)
    assert data[("en", "train")][1] == {"id": "1", "text": "a gorgeous film ", "label": 1}


def test_xnli_local(tmp_path):
    write_mnli(tmp_path / "MNLI")  # English train = GLUE MNLI train.tsv
    rows = []
    for split in ("dev", "test"):
        rows = [xnli_row("en", "neutral", "A man.", "A person.", "1"),
                xnli_row("de", "contradiction", "Ein Mann.", "Eine Frau.", "1"),
                xnli_row("de", "entailment", 'Er sagte "ja".', "Er stimmte zu.", "2"),
                xnli_row("fr", "entailment", "Un homme.", "Une personne.", "1")]
        write(tmp_path / "XNLI-1.0" / f"xnli.{split}.tsv", tsv(XNLI_HEADER, rows))
    task = REGISTRY["xnli"]
    data = task.load_local(task, tmp_path, ["de", "fr"])
    validate("xnli", data)
    assert set(data) == {("en", "train"), ("en", "dev"), ("en", "test"), ("de", "dev"),
                         ("de", "test"), ("fr", "dev"), ("fr", "test")}
    assert len(data[("en", "train")]) == 3
    assert data[("de", "test")] == [
        {"id": "1", "text_a": "Ein Mann.", "text_b": "Eine Frau.", "label": 2},
        {"id": "2", "text_a": 'Er sagte "ja".', "text_b": "Er stimmte zu.", "label": 0},
    ]
    # XNLI-MT's English MNLI copy ("contradictory") is accepted as the train file too
    alt = tmp_path / "other" / "alt"  # (not next to the MNLI/ folder above)
    write(alt / "XNLI-MT-1.0/multinli/multinli.train.en.tsv",
          "premise\thypo\tlabel\nIt rained.\tIt was dry.\tcontradictory\nA.\tB.\tneutral\n")
    write(alt / "XNLI-1.0/xnli.dev.tsv", tsv(XNLI_HEADER, rows))
    write(alt / "XNLI-1.0/xnli.test.tsv", tsv(XNLI_HEADER, rows))
    data = task.load_local(task, alt, ["en"])
    assert [r["label"] for r in data[("en", "train")]] == [2, 1]


def test_pawsx_local(tmp_path):
    header = ["id", "sentence1", "sentence2", "label"]
    root = tmp_path / "x-final"
    write(root / "en" / "train.tsv", tsv(header, [["1", "In Paris , A.", "A , in Paris .", "1"],
                                                  ["2", "X was born .", "Y died .", "0"]]))
    for lang in ("en", "de"):
        write(root / lang / "dev_2k.tsv", tsv(header, [["1", "a", "b", "0"]]))
        write(root / lang / "test_2k.tsv", tsv(header, [["1", "c", "d", "1"], ["2", "e", "f",
                                                                              "0"]]))
    task = REGISTRY["pawsx"]
    data = task.load_local(task, tmp_path, ["de"])
    validate("pawsx", data)
    assert [r["label"] for r in data[("de", "test")]] == [1, 0]
    assert task.labels[data[("en", "train")][0]["label"]] == "paraphrase"


def squad_doc(paragraphs: list[tuple[str, list[tuple[str, str, str]]]]) -> dict:
    """{"data": [...]} with (context, [(qid, question, answer)]) paragraphs."""
    return {"version": "1.1", "data": [{"title": "T", "paragraphs": [
        {"context": ctx, "qas": [
            {"id": qid, "question": q, "answers": [{"answer_start": ctx.index(a), "text": a}]}
            for qid, q, a in qas]}
        for ctx, qas in paragraphs]}]}


def write_squad(root: Path) -> None:
    write(root / "train-v1.1.json", json.dumps(squad_doc([
        ("Paris is the capital of France.", [("q1", "Capital of France?", "Paris")]),
        ("The Nile flows north.", [("q2", "Which way?", "north"), ("q3", "What?", "Nile")]),
    ])))
    write(root / "dev-v1.1.json", json.dumps(squad_doc([
        ("Berlin is in Germany.", [("d1", "Where is Berlin?", "Germany")]),
    ]), indent=2))


def test_squad_local(tmp_path):
    write_squad(tmp_path)
    task = REGISTRY["squad"]
    data = task.load_local(task, tmp_path, ["en"])
    validate("squad", data)
    assert data[("en", "train")][1] == {
        "id": "q2", "question": "Which way?", "context": "The Nile flows north.",
        "answers": {"text": ["north"], "answer_start": [15]},
    }


def test_mlqa_local_with_sibling_squad(tmp_path):
    write_squad(tmp_path / "squad")  # ../squad next to the MLQA root
    root = tmp_path / "mlqa"
    for split in ("dev", "test"):
        for lang, ctx, ans in (("en", "Rome is old.", "old"), ("de", "Rom ist alt.", "alt")):
            doc = squad_doc([(ctx, [(f"{lang}-{split}-1", "Wie?", ans)])])
            name = f"{split}-context-{lang}-question-{lang}.json"
            write(root / "MLQA_V1" / split / name, json.dumps(doc))
    task = REGISTRY["mlqa"]
    data = task.load_local(task, root, ["de"])
    validate("mlqa", data)
    assert set(data) == {("en", "train"), ("en", "dev"), ("en", "test"), ("de", "dev"),
                         ("de", "test")}
    assert data[("en", "train")][0]["id"] == "q1"  # SQuAD
    assert data[("en", "dev")][0]["id"] == "d1"  # SQuAD dev (not MLQA's en dev)
    assert data[("de", "test")][0]["answers"] == {"text": ["alt"], "answer_start": [8]}


def test_tydiqa_local(tmp_path):
    dev = tmp_path / "tydiqa-goldp-v1.1-dev"
    write(dev / "tydiqa-goldp-dev-arabic.json", json.dumps(squad_doc([
        ("القاهرة عاصمة مصر", [("arabic-2387335860751143628-1", "ما عاصمة مصر؟", "القاهرة")]),
    ]), ensure_ascii=False))
    write(dev / "tydiqa-goldp-dev-finnish.json", json.dumps(squad_doc([
        ("Helsinki on pääkaupunki.", [("finnish--2893018431418929425-0", "Mikä?", "Helsinki")]),
    ])))
    task = REGISTRY["tydiqa"]
    data = task.load_local(task, tmp_path, ["ar", "fi"])
    validate("tydiqa", data)
    assert set(data) == {("ar", "test"), ("fi", "test")}  # no SQuAD, no English file
    assert data[("fi", "test")][0]["id"] == "finnish--2893018431418929425-0"
    # a file holding another language's questions is rejected
    write(dev / "tydiqa-goldp-dev-korean.json", json.dumps(squad_doc([
        ("Seoul.", [("arabic-1-0", "?", "Seoul")])])))
    with pytest.raises(DataFormatError, match="not only 'ko'"):
        task.load_local(task, tmp_path, ["ko"])
    by_lang = rd.read_tydiqa_goldp_json(dev / "tydiqa-goldp-dev-arabic.json")
    assert list(by_lang) == ["ar"]


def test_panx_local(tmp_path):
    write(tmp_path / "en" / "train", "en:EU\tB-ORG\nen:rejects\tO\nen:German\tB-MISC\n")
    task = REGISTRY["panx"]
    with pytest.raises(DataFormatError, match="B-MISC"):
        task.load_local(task, tmp_path, ["en"])
    write(tmp_path / "en" / "train", "en:EU\tB-ORG\nen:rejects\tO\n\nen:Peter\tB-PER\n"
          "en:Blackburn\tI-PER\n\n")
    write(tmp_path / "en" / "dev", "en:Lyon\tB-LOC\n")
    write(tmp_path / "en" / "test", "en:Lyon\tB-LOC\n")
    write(tmp_path / "de" / "dev", "de:Die\tO\nde:Deutsche\tB-ORG\nde:Bank\tI-ORG\n")
    write(tmp_path / "de" / "test", "de:http://x.de\tO\n")  # only the first colon is a prefix
    data = task.load_local(task, tmp_path, ["de"])
    validate("panx", data)
    assert data[("en", "train")] == [
        {"id": "en-train-0", "tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"]},
        {"id": "en-train-1", "tokens": ["Peter", "Blackburn"], "tags": ["B-PER", "I-PER"]},
    ]
    assert data[("de", "test")][0]["tokens"] == ["http://x.de"]


def write_bucc(root: Path, lang: str = "de") -> None:
    for name in ("sample", "training"):
        base = root / f"{lang}-en" / f"{lang}-en.{name}"
        write(Path(f"{base}.{lang}"), f"{lang}-000000001\tDer Hund bellt.\n"
              f"{lang}-000000002\tEin Satz ohne Partner.\n{lang}-000000003\tDie Katze.\n")
        write(Path(f"{base}.en"), "en-000000001\tThe cat.\nen-000000002\tThe dog barks.\n"
              "en-000000003\tUnrelated.\n")
        write(Path(f"{base}.gold"), f"{lang}-000000001\ten-000000002\n"
              f"{lang}-000000003\ten-000000001\n")


def test_bucc_local_and_corpus(tmp_path):
    write_bucc(tmp_path)
    task = REGISTRY["bucc"]
    data = task.load_local(task, tmp_path, ["de"])
    validate("bucc", data)
    assert data[("de", "test")] == [  # both full sentence sets, for mining (see test_retrieval)
        {"id": "de-000000001", "role": "query", "text": "Der Hund bellt.", "lang": "de",
         "relevant": ["en-000000002"]},
        {"id": "de-000000002", "role": "query", "text": "Ein Satz ohne Partner.", "lang": "de",
         "relevant": []},
        {"id": "de-000000003", "role": "query", "text": "Die Katze.", "lang": "de",
         "relevant": ["en-000000001"]},
        {"id": "en-000000001", "role": "candidate", "text": "The cat.", "lang": "en",
         "relevant": []},
        {"id": "en-000000002", "role": "candidate", "text": "The dog barks.", "lang": "en",
         "relevant": []},
        {"id": "en-000000003", "role": "candidate", "text": "Unrelated.", "lang": "en",
         "relevant": []},
    ]
    corpus = rd.read_bucc_corpus(tmp_path, "de", "dev")
    assert len(corpus.source) == 3 and len(corpus.target) == 3  # all candidates, not only gold
    assert corpus.gold == {("de-000000001", "en-000000002"), ("de-000000003", "en-000000001")}
    assert rd.read_bucc_corpus(tmp_path, "de", "sample") == corpus  # official name works too
    with pytest.raises(FileNotFoundError, match="fr-en"):
        rd.read_bucc_corpus(tmp_path, "fr", "dev")


def copa(i: int, question: str = "cause", label: int = 0) -> dict:
    return {"premise": f"Premise {i}.", "choice1": "One.", "choice2": "Two.",
            "question": question, "label": label, "idx": i}


def test_xcopa_local_with_copa(tmp_path):
    write(tmp_path / "COPA" / "train.jsonl", jsonl([copa(1), copa(2, "effect", 1)]))
    write(tmp_path / "COPA" / "val.jsonl", jsonl([copa(401)]))
    for split in ("val", "test"):
        write(tmp_path / "data" / "sw" / f"{split}.sw.jsonl",
              jsonl([{**copa(0), "changed": False}]))
    task = REGISTRY["xcopa"]
    data = task.load_local(task, tmp_path, ["sw"])
    validate("xcopa", data)
    assert data[("en", "train")][1] == {"id": "copa-2", "context": "Premise 2. What was the "
                                        "effect?", "choices": ["One.", "Two."], "label": 1}
    assert set(data) == {("en", "train"), ("en", "dev"), ("sw", "dev"), ("sw", "test")}


def test_hellaswag_commonsenseqa_local(tmp_path):
    hs = {"ind": 24, "activity_label": "Roof shingle removal", "ctx_a": "A man is on a roof.",
          "ctx_b": "he", "ctx": "A man is on a roof. he", "split": "val", "split_type": "indomain",
          "label": 3, "endings": ["a", "b", "c", "d"], "source_id": "activitynet~v_-JhWjGDPHMY"}
    write(tmp_path / "hs" / "data" / "hellaswag_train.jsonl", jsonl([hs, {**hs, "ind": 25,
                                                                           "label": 0}]))
    write(tmp_path / "hs" / "data" / "hellaswag_val.jsonl", jsonl([hs]))
    task = REGISTRY["hellaswag"]
    data = task.load_local(task, tmp_path / "hs", ["en"])
    validate("hellaswag", data)
    assert data[("en", "dev")][0] == {"id": "24", "context": "A man is on a roof. he",
                                      "choices": ["a", "b", "c", "d"], "label": 3}

    q = {"answerKey": "C", "id": "075e483d21c29a511267ef62bedc0461",
         "question": {"question_concept": "punishing", "stem": "Where do you keep milk?",
                      "choices": [{"label": k, "text": t} for k, t in zip(
                          "ABCDE", ["shelf", "car", "fridge", "box", "bag"], strict=True)]}}
    write(tmp_path / "csqa" / "train_rand_split.jsonl", jsonl([q]))
    write(tmp_path / "csqa" / "dev_rand_split.jsonl", jsonl([{**q, "answerKey": "A"}]))
    task = REGISTRY["commonsenseqa"]
    data = task.load_local(task, tmp_path / "csqa", ["en"])
    validate("commonsenseqa", data)
    assert data[("en", "train")][0]["label"] == 2
    assert data[("en", "train")][0]["context"] == "Where do you keep milk?"
    assert len(data[("en", "dev")][0]["choices"]) == 5


def test_socialiqa_and_anli_local(tmp_path):
    ex = {"context": "Tracy didn't go home that evening.", "question": "What does Tracy need?",
          "answerA": "make a new plan", "answerB": "Go home and see Riley",
          "answerC": "Find somewhere to go"}
    root = tmp_path / "siqa" / "socialiqa-train-dev"
    write(root / "train.jsonl", jsonl([ex, ex]))
    write(root / "train-labels.lst", "1\n3\n")
    write(root / "dev.jsonl", jsonl([ex]))
    write(root / "dev-labels.lst", "2\n")
    task = REGISTRY["socialiqa"]
    data = task.load_local(task, tmp_path / "siqa", ["en"])
    validate("socialiqa", data)
    assert [r["label"] for r in data[("en", "train")]] == [0, 2]
    assert data[("en", "dev")][0]["context"] == ("Tracy didn't go home that evening. "
                                                 "What does Tracy need?")

    for r in ("R1", "R2", "R3"):
        for split in ("train", "dev"):
            write(tmp_path / "anli" / "anli_v1.0" / r / f"{split}.jsonl", jsonl([
                {"uid": f"{r}-{split}-a", "context": "The sky is blue.", "hypothesis": "Blue.",
                 "label": "e", "reason": "", "model_label": "n", "emturk": False, "genre": "x",
                 "tag": "x"},
                {"uid": f"{r}-{split}-b", "context": "C.", "hypothesis": "H.", "label": "c",
                 "reason": ""}]))
    task = REGISTRY["anli"]
    data = task.load_local(task, tmp_path / "anli", ["en"])
    validate("anli", data)
    assert len(data[("en", "train")]) == 6
    assert [r["label"] for r in data[("en", "dev")][:2]] == [0, 2]


# --------------------------------------------------------------------------- malformed inputs


def test_tsv_wrong_column_count(tmp_path):
    path = write(tmp_path / "train.tsv", tsv(MNLI_TRAIN_HEADER, [
        mnli_row(0, "a", "b", "neutral"), mnli_row(1, "a", "b", "neutral")[:-1]]))
    with pytest.raises(DataFormatError, match="expected 12 tab-separated columns") as e:
        rd.read_mnli_tsv(path)
    assert_at(e, path, 3)


def test_tsv_missing_header_column(tmp_path):
    path = write(tmp_path / "dev_2k.tsv", "id\tsentence1\tsentence2\n1\ta\tb\n")
    with pytest.raises(DataFormatError, match="lacks column") as e:
        rd.read_pawsx_tsv(path)
    assert_at(e, path, 1)


def test_tsv_label_outside_label_set(tmp_path):
    path = write(tmp_path / "xnli.dev.tsv", tsv(XNLI_HEADER, [
        xnli_row("de", "entailment", "a", "b", "1"), xnli_row("de", "-", "a", "b", "2")]))
    with pytest.raises(DataFormatError, match="label '-'") as e:
        rd.read_xnli_tsv(path)
    assert_at(e, path, 3)
    path = write(tmp_path / "test_2k.tsv", "id\tsentence1\tsentence2\tlabel\n1\ta\tb\t2\n")
    with pytest.raises(DataFormatError, match="label '2'") as e:
        rd.read_pawsx_tsv(path)
    assert_at(e, path, 2)


def test_non_utf8_bytes(tmp_path):
    path = write(tmp_path / "train.tsv", b"sentence\tlabel\ngood\t1\n" +
                 b"caf\xe9\t0\n")
    with pytest.raises(DataFormatError, match="not valid UTF-8") as e:
        rd.read_sst2_tsv(path)
    assert_at(e, path, 3)
    conllu = write(tmp_path / "x-ud-dev.conllu",
                   b"# sent_id = 1\n1\tA\ta\tDET\t_\t_\t0\troot\t_\t_\n\n1\t\xff\t_\tX\t_\t_\t0"
                   b"\troot\t_\t_\n")
    with pytest.raises(DataFormatError, match="byte 0xff") as e:
        rd.read_conllu(conllu)
    assert_at(e, conllu, 4)
    squad = write(tmp_path / "dev-v1.1.json", b'{"data": [\n  "\x80"]}')
    with pytest.raises(DataFormatError, match="UTF-8") as e:
        rd.read_squad_json(squad)
    assert_at(e, squad, 2)


def test_truncated_json(tmp_path):
    text = json.dumps(squad_doc([("Paris is big.", [("q1", "What?", "Paris")])]), indent=2)
    path = write(tmp_path / "xquad.de.json", text[: len(text) // 2])
    with pytest.raises(DataFormatError, match="invalid JSON") as e:
        rd.read_squad_json(path)
    assert e.value.line is not None and e.value.line > 1
    assert str(e.value).startswith(f"{path}:{e.value.line}: ")
    path = write(tmp_path / "val.et.jsonl", jsonl([copa(0)]) + '{"premise": "P", "choi\n')
    with pytest.raises(DataFormatError, match="invalid JSON") as e:
        rd.read_copa_jsonl(path)
    assert_at(e, path, 2)


def test_squad_structure_errors_locate_the_question(tmp_path):
    doc = squad_doc([("Paris is big.", [("q1", "What?", "Paris")]),
                     ("Rome is old.", [("q2", "Which?", "old")])])
    doc["data"][0]["paragraphs"][1]["qas"][0]["answers"][0]["answer_start"] = 3
    path = write(tmp_path / "dev.json", json.dumps(doc, indent=1))
    with pytest.raises(DataFormatError, match="'old' of question 'q2' does not occur") as e:
        rd.read_squad_json(path)
    line = path.read_text().splitlines().index('       "id": "q2",') + 1
    assert_at(e, path, line)
    assert rd.read_squad_json(path, check_spans=False)[1]["answers"]["answer_start"] == [3]
    del doc["data"][0]["paragraphs"][0]["qas"][0]["question"]
    path = write(tmp_path / "dev2.json", json.dumps(doc, indent=1))
    with pytest.raises(DataFormatError, match=r"qas\[0\]: missing field 'question'") as e:
        rd.read_squad_json(path)
    assert e.value.line == path.read_text().splitlines().index('       "id": "q1",') + 1
    doc = squad_doc([("Paris.", [("q1", "What?", "Paris")])])
    doc["data"][0]["paragraphs"][0]["qas"][0]["answers"] = []
    path = write(tmp_path / "v2.json", json.dumps(doc))
    with pytest.raises(DataFormatError, match="has no answer") as e:
        rd.read_squad_json(path)
    assert_at(e, path, 1)


def test_jsonl_label_and_field_errors(tmp_path):
    path = write(tmp_path / "test.tr.jsonl", jsonl([copa(0), copa(1, label=2)]))
    with pytest.raises(DataFormatError, match="label 2 is not 0 or 1") as e:
        rd.read_copa_jsonl(path)
    assert_at(e, path, 2)
    path = write(tmp_path / "val.tr.jsonl", jsonl([copa(0, question="why")]))
    with pytest.raises(DataFormatError, match="'why' is not 'cause' or 'effect'") as e:
        rd.read_copa_jsonl(path)
    assert_at(e, path, 1)
    path = write(tmp_path / "dev.jsonl", jsonl([
        {"uid": "a", "context": "c", "hypothesis": "h", "label": "x"}]))
    with pytest.raises(DataFormatError, match="label 'x'") as e:
        rd.read_anli_jsonl(path)
    assert_at(e, path, 1)
    path = write(tmp_path / "hellaswag_val.jsonl", jsonl([
        {"ind": 1, "ctx": "c", "endings": ["a", "b"], "label": 1},
        {"ind": 2, "ctx": "c", "endings": ["a", "b"], "label": 5}]))
    with pytest.raises(DataFormatError, match="label 5 outside 0..1") as e:
        rd.read_hellaswag_jsonl(path)
    assert_at(e, path, 2)
    path = write(tmp_path / "dev_rand_split.jsonl", "\n" + jsonl([
        {"answerKey": "F", "id": "x", "question": {"stem": "s", "choices": [
            {"label": "A", "text": "a"}]}}]))
    with pytest.raises(DataFormatError, match="answerKey 'F'") as e:
        rd.read_commonsenseqa_jsonl(path)
    assert_at(e, path, 2)
    path = write(tmp_path / "train2.jsonl", jsonl([{**copa(0), "premise": 3}]))
    with pytest.raises(DataFormatError, match="'premise' must be str") as e:
        rd.read_copa_jsonl(path)
    assert_at(e, path, 1)


def test_conllu_errors(tmp_path):
    good = "1\tA\ta\tDET\t_\t_\t2\tdet\t_\t_\n2\tdog\tdog\tNOUN\t_\t_\t0\troot\t_\t_\n"
    path = write(tmp_path / "a.conllu", f"# sent_id = s1\n{good}\n1\tA\ta\tDET\t_\t_\t0\n\n")
    with pytest.raises(DataFormatError, match="expected 10 tab-separated") as e:
        rd.read_conllu(path)
    assert_at(e, path, 5)
    path = write(tmp_path / "b.conllu", good + "\n" + good.replace("NOUN", "NOUNX"))
    with pytest.raises(DataFormatError, match="'NOUNX' is not a Universal POS tag") as e:
        rd.read_conllu(path)
    assert_at(e, path, 5)
    path = write(tmp_path / "c.conllu", good.replace("2\tdog", "3\tdog"))
    with pytest.raises(DataFormatError, match="out of sequence") as e:
        rd.read_conllu(path)
    assert_at(e, path, 2)


def test_conllu_skips_ranges_and_empty_nodes(tmp_path):
    text = (
        "# sent_id = s1\n# text = Im Haus schlief.\n"
        "1-2\tIm\t_\t_\t_\t_\t_\t_\t_\t_\n"
        "1\tIn\tin\tADP\t_\t_\t3\tcase\t3:case\t_\n"
        "2\tdem\tder\tDET\t_\t_\t3\tdet\t3:det\t_\n"
        "3\tHaus\tHaus\tNOUN\t_\t_\t4\tobl\t4:obl\t_\n"
        "4\tschlief\tschlafen\tVERB\t_\t_\t0\troot\t0:root\t_\n"
        "4.1\tschlief\tschlafen\tVERB\t_\t_\t_\t_\t4:conj\t_\n"
        "5\t.\t.\tPUNCT\t_\t_\t4\tpunct\t4:punct\t_\n"
        "\n"
        "1\t_\t_\tX\t_\t_\t0\troot\t_\t_\n2\t_\t_\tX\t_\t_\t1\tdep\t_\t_\n"  # no text: dropped
    )
    path = write(tmp_path / "de_x-ud-dev.conllu", text)
    words = rd.read_conllu(path)
    assert words == [{"id": "s1", "tokens": ["In", "dem", "Haus", "schlief", "."],
                      "tags": ["ADP", "DET", "NOUN", "VERB", "PUNCT"]}]
    assert len(rd.read_conllu(path, xtreme_filters=False)) == 2
    fused = rd.read_conllu(path, multiword="fused", lang="de")
    assert fused[0]["tokens"] == ["Im", "Haus", "schlief", "."]
    assert fused[0]["tags"] == ["ADP", "NOUN", "VERB", "PUNCT"]  # tie -> ADP before DET


def test_panx_errors(tmp_path):
    path = write(tmp_path / "dev", "en:EU\tB-ORG\nEU\tO\n")
    with pytest.raises(DataFormatError, match="lacks the 'lang:' prefix") as e:
        rd.read_panx(path)
    assert_at(e, path, 2)
    path = write(tmp_path / "train", "en:EU\tB-ORG\n\nen:German\tB-MISC\n")
    with pytest.raises(DataFormatError, match="tag 'B-MISC' is not one of") as e:
        rd.read_panx(path)
    assert_at(e, path, 3)
    path = write(tmp_path / "test", "en:EU\tB-ORG\tX\n")
    with pytest.raises(DataFormatError, match="found 3 tab-separated") as e:
        rd.read_panx(path)
    assert_at(e, path, 1)


def test_tatoeba_errors(tmp_path):
    src = write(tmp_path / "tatoeba.deu-eng.deu", "Hallo.\nWie geht's?\nTschüss.\n")
    eng = write(tmp_path / "tatoeba.deu-eng.eng", "Hello.\nHow are you?\n")
    with pytest.raises(DataFormatError, match="ends after 2 lines") as e:
        rd.read_tatoeba(src, eng)
    assert_at(e, eng, 3)
    eng = write(tmp_path / "tatoeba.deu-eng.eng", "Hello.\n \nBye.\n")
    with pytest.raises(DataFormatError, match="empty sentence") as e:
        rd.read_tatoeba(src, eng)
    assert_at(e, eng, 2)


def test_bucc_errors(tmp_path):
    write_bucc(tmp_path)
    gold = tmp_path / "de-en" / "de-en.training.gold"
    write(gold, "de-000000001\ten-000000002\nde-000000009\ten-000000001\n")
    with pytest.raises(DataFormatError, match="'de-000000009'") as e:
        rd.read_bucc_corpus(tmp_path, "de", "test")
    assert_at(e, gold, 2)
    sents = tmp_path / "de-en" / "de-en.sample.de"
    write(sents, "de-000000001\tA.\nno id here\n")
    with pytest.raises(DataFormatError, match="<id><TAB><sentence>") as e:
        rd.read_bucc_sentences(sents)
    assert_at(e, sents, 2)


def test_csv_and_label_list_errors(tmp_path):
    header = "id,context,question,answer0,answer1,answer2,answer3,label\n"
    path = write(tmp_path / "valid.csv", header + 'a,"ctx, with comma",q,0,1,2,3,1\n'
                 'b,"multi\nline",q,0,1,2,3,3\nc,ctx,q,0,1,2,3\n')
    with pytest.raises(DataFormatError, match="expected 8 CSV columns, found 7") as e:
        rd.read_cosmosqa_csv(path)
    assert_at(e, path, 5)  # physical line (the quoted field of row b spans lines 3-4)
    path = write(tmp_path / "valid2.csv", header + "a,ctx,q,0,1,2,3,4\n")
    with pytest.raises(DataFormatError, match="label '4'") as e:
        rd.read_cosmosqa_csv(path)
    assert_at(e, path, 2)
    ok = rd.read_cosmosqa_csv(write(tmp_path / "valid3.csv", header + 'b,"multi\nline",q,0,1,2,'
                                    "3,3\n"))
    assert ok[0]["context"] == "multi\nline q"
    ex = {"context": "c", "question": "q", "answerA": "a", "answerB": "b", "answerC": "c"}
    data = write(tmp_path / "dev.jsonl", jsonl([ex, ex]))
    labels = write(tmp_path / "dev-labels.lst", "1\n")
    with pytest.raises(DataFormatError, match="2 examples but 1 labels") as e:
        rd.read_socialiqa(data, labels)
    assert_at(e, labels, 2)
    labels = write(tmp_path / "dev-labels.lst", "1\n4\n")
    with pytest.raises(DataFormatError, match="'4' is not 1, 2 or 3") as e:
        rd.read_socialiqa(data, labels)
    assert_at(e, labels, 2)


# --------------------------------------------------------------------------- hub loaders (faked)

NLI_SHUFFLED = ClassLabel(names=["contradiction", "entailment", "neutral"])  # name mapping test


def _ds(rows: dict, features: dict | None = None) -> Dataset:
    return Dataset.from_dict(rows, features=Features(features) if features else None)


def _squad_ds(prefix: str, n: int = 2) -> Dataset:
    ctx = "Paris is the capital."
    return _ds({"id": [f"{prefix}{i}" for i in range(n)], "title": ["T"] * n,
                "context": [ctx] * n, "question": ["Capital?"] * n,
                "answers": [{"text": ["Paris"], "answer_start": [0]}] * n})


UD_NAMES = ["NOUN", "PUNCT", "ADP", "NUM", "SYM", "SCONJ", "ADJ", "PART", "DET", "CCONJ", "PROPN",
            "PRON", "X", "_", "ADV", "INTJ", "VERB", "AUX"]


def fake_hub() -> dict:
    """(path, config, split) -> Dataset, with the hub column names and label features."""
    nli = {"premise": Value("string"), "hypothesis": Value("string"), "label": NLI_SHUFFLED}
    ud = {"idx": Value("string"), "tokens": HFSequence(Value("string")),
          "upos": HFSequence(ClassLabel(names=UD_NAMES)), "head": HFSequence(Value("string"))}
    ud_rows = {"idx": ["s1"], "tokens": [["Im", "In", "dem", "Haus", "."]],
               "upos": [[13, 2, 8, 0, 1]], "head": [[None, "3", "3", "0", "3"]]}
    panx = {"tokens": HFSequence(Value("string")),
            "ner_tags": HFSequence(ClassLabel(names=list(rd.PANX_LABELS)))}
    copa_rows = {"premise": ["P."], "choice1": ["a"], "choice2": ["b"], "question": ["effect"],
                 "idx": [7], "label": [1]}
    hub = {
        ("nyu-mll/glue", "mnli", "train"): _ds(
            {"premise": ["p"], "hypothesis": ["h"], "label": [0], "idx": [5]},
            {**nli, "idx": Value("int32")}),
        ("nyu-mll/glue", "mnli", "validation_matched"): _ds(
            {"premise": ["p", "q"], "hypothesis": ["h", "i"], "label": [1, 2], "idx": [0, 1]},
            {**nli, "idx": Value("int32")}),
        ("rajpurkar/squad", "plain_text", "train"): _squad_ds("tr"),
        ("rajpurkar/squad", "plain_text", "validation"): _squad_ds("va"),
        ("google-research-datasets/tydiqa", "secondary_task", "validation"): _ds(
            {"id": ["arabic-1-0", "english-2-0", "finnish--3-0", "arabic-4-1"],
             "title": ["t"] * 4, "context": ["abc"] * 4, "question": ["q"] * 4,
             "answers": [{"text": ["b"], "answer_start": [1]}] * 4}),
        ("universal-dependencies/universal_dependencies", "de_gsd", "validation"): _ds(ud_rows,
                                                                                       ud),
        ("universal-dependencies/universal_dependencies", "de_gsd", "test"): _ds(ud_rows, ud),
        ("universal-dependencies/universal_dependencies", "de_pud", "test"): _ds(
            {**ud_rows, "idx": ["p1"]}, ud),
        ("unimelb-nlp/wikiann", "de", "validation"): _ds(
            {"tokens": [["Die", "Deutsche", "Bank"]], "ner_tags": [[0, 3, 4]]}, panx),
        ("unimelb-nlp/wikiann", "de", "test"): _ds(
            {"tokens": [["Berlin"]], "ner_tags": [[5]]}, panx),
        ("mteb/tatoeba-bitext-mining", "kaz-eng", "test"): _ds(
            {"sentence1": ["Сәлем."], "sentence2": ["Hello."]}),
        ("cambridgeltl/xcopa", "et", "validation"): _ds({**copa_rows, "changed": [False]}),
        ("cambridgeltl/xcopa", "et", "test"): _ds({**copa_rows, "changed": [False]}),
        ("aps/super_glue", "copa", "train"): _ds(copa_rows),
        ("aps/super_glue", "copa", "validation"): _ds(copa_rows),
    }
    paws = _ds({"id": [1], "sentence1": ["a"], "sentence2": ["b"], "label": [1]},
               {"id": Value("int32"), "sentence1": Value("string"), "sentence2": Value("string"),
                "label": ClassLabel(names=["0", "1"])})
    csqa = _ds({"id": ["x"], "question": ["Where?"], "question_concept": ["c"],
                "choices": [{"label": ["A", "B", "C", "D", "E"], "text": list("vwxyz")}],
                "answerKey": ["D"]})
    en_panx = _ds({"tokens": [["EU"]], "ner_tags": [[3]]}, panx)
    for split in ("train", "validation", "test"):
        hub[("google-research-datasets/paws-x", "en", split)] = paws
        hub[("google-research-datasets/paws-x", "de", split)] = paws
        hub[("unimelb-nlp/wikiann", "en", split)] = en_panx
        hub[("tau/commonsense_qa", None, split)] = csqa
    return hub


@pytest.fixture
def hub(monkeypatch):
    table = fake_hub()
    calls = []

    def load_dataset(path, name=None, *, revision=None, split=None, data_dir=None):
        calls.append((path, name, revision, split, data_dir))
        if path == "allenai/social_i_qa":
            if revision != REGISTRY["socialiqa"].hub.parquet_revision:
                raise RuntimeError("Dataset scripts are no longer supported, but found "
                                   "social_i_qa.py")
            assert data_dir == "default" and name is None
            return _ds({"context": ["c"], "question": ["q"], "answerA": ["a"],
                        "answerB": ["b"], "answerC": ["x"], "label": ["3"]})
        key = (path, name, split)
        if key not in table:
            if path == "universal-dependencies/universal_dependencies":
                raise ValueError(f'Unknown split "{split}". Should be one of [...].')
            raise FileNotFoundError(f"no fake hub dataset {key}")
        return table[key]

    monkeypatch.setattr(hf_datasets, "load_dataset", load_dataset)
    # which repos are loading scripts is asked of the hub (tests/hub serves it for real)
    monkeypatch.setattr(xtreme, "is_loading_script", lambda src: src.path == "allenai/social_i_qa")
    return calls


def test_hub_mnli_maps_labels_by_name(hub):
    task = REGISTRY["mnli"]
    data = task.load_hub(task, ["en"])
    validate("mnli", data)
    # hub ClassLabel order here is (contradiction, entailment, neutral): mapped by name
    assert data[("en", "train")] == [{"id": "5", "text_a": "p", "text_b": "h", "label": 2}]
    assert [r["label"] for r in data[("en", "dev")]] == [0, 1]
    assert ("nyu-mll/glue", "mnli", xtreme.GLUE_REVISION, "validation_matched", None) in hub


def test_hub_qa_tasks(hub):
    task = REGISTRY["tydiqa"]
    data = task.load_hub(task, ["ar", "fi"])
    validate("tydiqa", data)
    assert [r["id"] for r in data[("ar", "test")]] == ["arabic-1-0", "arabic-4-1"]
    assert [r["id"] for r in data[("en", "test")]] == ["english-2-0"]
    assert [r["id"] for r in data[("en", "train")]] == ["tr0", "tr1"]  # SQuAD
    assert data[("fi", "test")][0]["answers"] == {"text": ["b"], "answer_start": [1]}


def test_hub_udpos_filters_multiword_rows(hub):
    task = REGISTRY["udpos"]
    data = task.load_hub(task, ["de"])  # no English treebank in the fake hub: warning only
    validate("udpos", data)
    assert set(data) == {("de", "dev"), ("de", "test")}
    test = data[("de", "test")]
    assert [r["id"] for r in test] == ["de_gsd:s1", "de_pud:p1"]  # PUD: test only
    assert test[0]["tokens"] == ["In", "dem", "Haus", "."]  # "Im" (UPOS "_", no head) dropped
    assert test[0]["tags"] == ["ADP", "DET", "NOUN", "PUNCT"]
    assert [r["id"] for r in data[("de", "dev")]] == ["de_gsd:s1"]
    with pytest.raises(FileNotFoundError, match="no fr data"):
        task.load_hub(task, ["fr"])


def test_hub_panx(hub):
    task = REGISTRY["panx"]
    data = task.load_hub(task, ["de"])
    validate("panx", data)
    assert data[("de", "dev")][0]["tags"] == ["O", "B-ORG", "I-ORG"]
    assert data[("de", "test")][0] == {"id": "de-test-0", "tokens": ["Berlin"], "tags": ["B-LOC"]}
    assert len(data[("en", "train")]) == 1


def test_hub_tatoeba_pinned(hub):
    task = REGISTRY["tatoeba"]
    data = task.load_hub(task, ["kk"])
    validate("tatoeba", data)
    assert data == {("kk", "test"): [{"id": "kk-0", "source": "Сәлем.", "target": "Hello."}]}
    assert hub == [("mteb/tatoeba-bitext-mining", "kaz-eng", xtreme.TATOEBA_HUB.revision, "test",
                    None)]


def test_hub_xcopa_and_pawsx(hub):
    task = REGISTRY["xcopa"]
    data = task.load_hub(task, ["et"])
    validate("xcopa", data)
    assert data[("en", "train")][0] == {"id": "copa-7", "context": "P. What was the effect?",
                                        "choices": ["a", "b"], "label": 1}
    assert data[("et", "test")][0]["id"] == "et-7"
    task = REGISTRY["pawsx"]
    data = task.load_hub(task, ["de"])
    validate("pawsx", data)
    assert data[("de", "dev")] == [{"id": "1", "text_a": "a", "text_b": "b", "label": 1}]


def test_hub_script_dataset_falls_back_to_parquet_export(hub):
    task = REGISTRY["socialiqa"]
    data = task.load_hub(task, ["en"])
    validate("socialiqa", data)
    assert data[("en", "train")][0]["label"] == 2 and data[("en", "train")][0]["choices"][2] == "x"
    src = REGISTRY["socialiqa"].hub
    # never asked at the script revision (datasets >= 4 refuses it, or, once the export is
    # cached, answers from that cache and fails later): straight to the export
    assert ("allenai/social_i_qa", None, src.revision, "train", None) not in hub
    # the pinned commit of the Parquet export branch, not the branch's moving head
    assert ("allenai/social_i_qa", None, src.parquet_revision, "train", "default") in hub


def test_hub_commonsenseqa(hub):
    task = REGISTRY["commonsenseqa"]
    data = task.load_hub(task, ["en"])
    validate("commonsenseqa", data)
    assert data[("en", "dev")] == [{"id": "x", "context": "Where?", "choices": list("vwxyz"),
                                    "label": 3}]


def test_hub_errors_propagate(hub):
    task = REGISTRY["qqp"]  # not in the fake hub: the hub's own error reaches the caller
    with pytest.raises(FileNotFoundError, match="no fake hub dataset"):
        task.load_hub(task, ["en"])


def more_hub(table: dict) -> None:
    nli = ClassLabel(names=list(rd.NLI_LABELS))
    pair = {"premise": ["p"], "hypothesis": ["h"], "label": [2]}
    for r in ("1", "2", "3"):
        for split in ("train", "dev"):
            table[("facebook/anli", "plain_text", f"{split}_r{r}")] = _ds(
                {**pair, "uid": [f"{split}{r}"], "reason": [""]},
                {"premise": Value("string"), "hypothesis": Value("string"), "label": nli,
                 "uid": Value("string"), "reason": Value("string")})
    for split in ("train", "validation", "test"):
        table[("facebook/xnli", "en", split)] = table[("facebook/xnli", "de", split)] = _ds(
            pair, {"premise": Value("string"), "hypothesis": Value("string"), "label": nli})
        table[("Rowan/hellaswag", None, split)] = _ds(
            {"ind": [4], "activity_label": ["a"], "ctx_a": ["x"], "ctx_b": ["y"], "ctx": ["x y"],
             "endings": [["e0", "e1", "e2", "e3"]], "source_id": ["s"], "split": [split],
             "split_type": ["indomain"], "label": ["2"]})
        table[("allenai/cosmos_qa", None, split)] = _ds(
            {"id": ["c1"], "context": ["ctx"], "question": ["q?"], "answer0": ["a"],
             "answer1": ["b"], "answer2": ["c"], "answer3": ["d"], "label": [3]})
        table[("nyu-mll/glue", "sst2", split)] = _ds(
            {"sentence": ["fine"], "label": [1], "idx": [3]},
            {"sentence": Value("string"), "label": ClassLabel(names=["negative", "positive"]),
             "idx": Value("int32")})
        table[("nyu-mll/glue", "qqp", split)] = _ds(
            {"question1": ["a?"], "question2": ["b?"], "label": [0], "idx": [8]},
            {"question1": Value("string"), "question2": Value("string"),
             "label": ClassLabel(names=["not_duplicate", "duplicate"]), "idx": Value("int32")})
    for lang in ("en", "de"):
        table[("google/xquad", f"xquad.{lang}", "validation")] = _squad_ds(f"xq{lang}")
    for split in ("validation", "test"):
        for lang in ("en", "de"):
            table[("facebook/mlqa", f"mlqa.{lang}.{lang}", split)] = _squad_ds(f"{lang}{split}")


@pytest.fixture
def hub_all(hub, monkeypatch):
    fake = hf_datasets.load_dataset
    table = fake_hub()
    more_hub(table)

    def load_dataset(path, name=None, *, revision=None, split=None, data_dir=None):
        if (path, name, split) in table:
            hub.append((path, name, revision, split, data_dir))
            return table[(path, name, split)]
        return fake(path, name, revision=revision, split=split, data_dir=data_dir)

    monkeypatch.setattr(hf_datasets, "load_dataset", load_dataset)
    return hub


@pytest.mark.parametrize("name,langs", [
    ("anli", ["en"]), ("xnli", ["de"]), ("hellaswag", ["en"]), ("cosmosqa", ["en"]),
    ("sst2", ["en"]), ("qqp", ["en"]), ("xquad", ["de"]), ("mlqa", ["de"]),
])
def test_hub_other_tasks(hub_all, name, langs):
    task = REGISTRY[name]
    data = task.load_hub(task, langs)
    validate(name, data)
    lang = langs[0]
    if name == "anli":
        assert [r["id"] for r in data[("en", "train")]] == ["train1", "train2", "train3"]
        assert {r["label"] for r in data[("en", "dev")]} == {2}
    if name == "xnli":
        assert set(data) == {("en", "train"), ("en", "dev"), ("en", "test"), ("de", "dev"),
                             ("de", "test")}
        assert data[("de", "test")][0]["label"] == 2
    if name == "hellaswag":
        assert data[("en", "dev")][0] == {"id": "4", "context": "x y",
                                          "choices": ["e0", "e1", "e2", "e3"], "label": 2}
    if name == "cosmosqa":
        assert data[("en", "dev")][0]["context"] == "ctx q?"
    if name == "sst2":
        assert data[("en", "train")] == [{"id": "3", "text": "fine", "label": 1}]
    if name == "qqp":
        assert data[("en", "dev")][0]["label"] == 0
    if name in ("xquad", "mlqa"):
        assert data[("en", "train")][0]["id"] == "tr0"  # SQuAD train
        assert data[(lang, "test")][0]["answers"]["text"] == ["Paris"]
    if name == "mlqa":
        assert data[("de", "dev")][0]["id"] == "devalidation0"


# --------------------------------------------------------------------------- issue 3 part A:
# SQuAD v2.0, SNLI, CCGbank, shared NLI labels, hub revisions


def squad2_doc() -> dict:
    """A SQuAD v2.0 file: one answerable and one unanswerable question (with plausible answer),
    the second paragraph in Russian (non-Latin script)."""
    ctx = "The Normans gave their name to Normandy."
    ru = "Москва — столица России."
    return {"version": "v2.0", "data": [{"title": "Normans", "paragraphs": [
        {"context": ctx, "qas": [
            {"id": "a1", "question": "To which region?", "is_impossible": False,
             "answers": [{"text": "Normandy", "answer_start": 31}]},
            {"id": "u1", "question": "Who gave their name to France?", "is_impossible": True,
             "answers": [], "plausible_answers": [{"text": "Normans", "answer_start": 4}]},
        ]},
        {"context": ru, "qas": [
            {"id": "a2", "question": "Столица России?", "is_impossible": False,
             "answers": [{"text": "Москва", "answer_start": 0}]},
        ]},
    ]}]}


def test_squad2_local(tmp_path):
    doc = squad2_doc()
    write(tmp_path / "train-v2.0.json", json.dumps(doc, ensure_ascii=False, indent=1))
    write(tmp_path / "squad" / "dev-v2.0.json", json.dumps(doc, ensure_ascii=False))
    task = REGISTRY["squad2"]
    assert task.extra["allow_no_answer"] and task.metric == "f1"
    assert task.hub.path == "rajpurkar/squad_v2"
    data = task.load_local(task, tmp_path, ["en"])
    validate("squad2", data)
    train = data[("en", "train")]
    assert [r["id"] for r in train] == ["a1", "u1", "a2"]
    assert train[1]["answers"] == {"text": [], "answer_start": []}  # unanswerable -> empty
    assert train[2]["answers"] == {"text": ["Москва"], "answer_start": [0]}
    assert data[("en", "dev")] == train


def test_squad2_format_errors(tmp_path):
    doc = squad2_doc()
    path = write(tmp_path / "v2.json", json.dumps(doc, indent=1))
    # the v1.1 reader (squad, xquad, ...) still rejects unanswerable questions
    with pytest.raises(DataFormatError, match="'u1' has no answer.*allow_unanswerable") as e:
        rd.read_squad_json(path)
    assert e.value.line == json.dumps(doc, indent=1).split("\n").index('       "id": "u1",') + 1
    # is_impossible with an answer, answerable without one, a non-bool is_impossible
    for qa, message in (
        ({"is_impossible": True, "answers": [{"text": "Normans", "answer_start": 4}]},
         "'u1' is_impossible but has 1 answer"),
        ({"is_impossible": False, "answers": []}, "'u1' has no answer \\(is_impossible is not"),
        ({"is_impossible": "yes"}, "field 'is_impossible' must be bool"),
        ({"plausible_answers": [{"text": "Normans"}]}, "plausible answer: missing field"),
    ):
        bad = squad2_doc()
        bad["data"][0]["paragraphs"][0]["qas"][1].update(qa)
        text = json.dumps(bad, indent=1)
        path = write(tmp_path / "bad.json", text)
        with pytest.raises(DataFormatError, match=message) as e:
            rd.read_squad_json(path, allow_unanswerable=True)
        assert_at(e, path, text.split("\n").index('       "id": "u1",') + 1)


def test_real_xquad_through_the_squad2_reader(real):
    """A v1.1-format file (no is_impossible) reads identically with allow_unanswerable."""
    path = real / "xquad" / "xquad.ar.json"
    assert rd.read_squad_json(path, allow_unanswerable=True) == rd.read_squad_json(path)


def test_nli_tasks_share_one_label_tuple():
    for name in ("mnli", "anli", "snli", "xnli"):
        assert REGISTRY[name].labels is rd.NLI_LABELS, name
    assert rd.NLI_LABELS == ("entailment", "neutral", "contradiction")


def snli_line(pair: str, label: str, s1: str = "A man plays.", s2: str = "A person plays.") -> dict:
    return {"annotator_labels": [label], "captionID": "c", "gold_label": label, "pairID": pair,
            "sentence1": s1, "sentence1_binary_parse": "( A man )", "sentence1_parse": "(ROOT)",
            "sentence2": s2, "sentence2_binary_parse": "( A person )", "sentence2_parse": "(R)"}


def test_snli_local(tmp_path):
    root = tmp_path / "snli_1.0"
    write(root / "snli_1.0_train.jsonl", jsonl([
        snli_line("p0", "neutral"), snli_line("p1", "-"), snli_line("p2", "contradiction"),
        snli_line("p3", "entailment", "Ein Mann spielt.", "Мужчина играет."),
    ]))
    write(root / "snli_1.0_dev.jsonl", jsonl([snli_line("d0", "entailment")]))
    task = REGISTRY["snli"]
    data = task.load_local(task, tmp_path, ["en"])  # found in the release folder snli_1.0/
    validate("snli", data)
    train = data[("en", "train")]
    assert [(r["id"], r["label"]) for r in train] == [("p0", 1), ("p2", 2), ("p3", 0)]  # '-' out
    assert train[2]["text_b"] == "Мужчина играет."
    path = write(tmp_path / "bad.jsonl", jsonl([snli_line("x", "neutral"),
                                                snli_line("y", "contradictory")]))
    with pytest.raises(DataFormatError, match="label 'contradictory' is not one of") as e:
        rd.read_snli_jsonl(path)
    assert_at(e, path, 2)
    bad = snli_line("z", "neutral")
    del bad["sentence2"]
    path = write(tmp_path / "bad2.jsonl", jsonl([bad]))
    with pytest.raises(DataFormatError, match="missing field 'sentence2'") as e:
        rd.read_snli_jsonl(path)
    assert_at(e, path, 1)


CCG_S1 = ("ID=wsj_0201.1 PARSER=GOLD NUMPARSE=1\n"
          "(<T S[dcl] 0 2> (<T NP 0 1> (<T N 1 2> (<L N/N NNP NNP Pierre N_73/N_73>) "
          "(<L N NNP NNP Vinken N>) ) ) (<T S[dcl]\\NP 0 2> (<L (S[dcl]\\NP)/NP VBZ VBZ likes "
          "(S[dcl]\\NP_10)/NP_11>) (<L NP PRP PRP it NP>) ) )\n")
CCG_S2 = ("ID=wsj_0201.2 PARSER=GOLD NUMPARSE=1\n"
          "(<T S[dcl] 0 2> (<L NP PRP PRP It NP>) (<L S[dcl]\\NP VBZ VBZ works S[dcl]\\NP_1>) )\n")
CCG_DEV = ("ID=wsj_0001.1 PARSER=GOLD NUMPARSE=1\n"
           "(<T S[dcl] 0 2> (<L NP PRP PRP It NP>) (<L S[q]\\NP VBZ VBZ works? S[q]\\NP_1>) )\n")


def write_ccgbank(root: Path) -> None:
    """The release layout data/AUTO/<section>/wsj_<section><nn>.auto; every section exists."""
    auto = root / "data" / "AUTO"
    for sec in ("00", *rd.CCG_SECTIONS["train"], "23"):
        (auto / sec).mkdir(parents=True, exist_ok=True)
    write(auto / "02" / "wsj_0201.auto", CCG_S1 + CCG_S2)
    write(auto / "00" / "wsj_0001.auto", CCG_DEV)
    write(auto / "23" / "wsj_2301.auto", CCG_S2.replace("wsj_0201.2", "wsj_2301.1"))


def test_ccgbank_local(tmp_path):
    write_ccgbank(tmp_path)
    task = REGISTRY["ccg"]
    assert task.hub is None and task.load_hub is None  # licensed: local files only
    assert task.metric == "acc" and task.metrics == ("acc",)
    data = task.load_local(task, tmp_path, ["en"])
    train = data[("en", "train")]
    assert train[0] == {"id": "wsj_0201.1", "tokens": ["Pierre", "Vinken", "likes", "it"],
                        "tags": ["N/N", "N", "(S[dcl]\\NP)/NP", "NP"]}
    labels = xtreme.ccg_labels(data)
    assert labels == ("(S[dcl]\\NP)/NP", "N", "N/N", "NP", "S[dcl]\\NP", rd.CCG_UNKNOWN)
    # S[q]\NP never occurs in train: the dev gold becomes the unknown tag
    assert data[("en", "dev")] == [{"id": "wsj_0001.1", "tokens": ["It", "works?"],
                                    "tags": ["NP", rd.CCG_UNKNOWN]}]
    assert data[("en", "test")][0]["tags"] == ["NP", "S[dcl]\\NP"]
    import dataclasses
    validate_task = dataclasses.replace(task, labels=labels)
    REGISTRY["ccg"], saved = validate_task, task
    try:
        validate("ccg", data)
    finally:
        REGISTRY["ccg"] = saved
    # a folder of section folders (no data/AUTO) works too; a missing section is reported
    flat = tmp_path / "flat"
    (tmp_path / "data" / "AUTO").rename(flat)
    assert task.load_local(task, flat, ["en"])[("en", "train")] == train
    (flat / "23").rename(flat / "x23")
    assert ("en", "test") not in task.load_local(task, flat, ["en"])


def test_ccgbank_errors(tmp_path):
    cases = (
        (CCG_S1.replace("(<L N NNP NNP Vinken N>)", "(<L N NNP Vinken N>)"), 2, "5 fields"),
        (CCG_S1.split("\n")[0] + "\n" + CCG_S2, 2, "'wsj_0201.1' \\(line 1\\) has no derivation"),
        (CCG_S1 + "ID=wsj_0201.3 PARSER=GOLD\n", 3, "'wsj_0201.3' has no derivation line"),
        ("(<L N NNP NNP Vinken N>)\n", 1, "without a preceding 'ID=' header"),
        ("ID=\n(<L N NN NN x N>)\n", 1, "malformed header"),
        (CCG_S2 + CCG_S1.replace("(<T S[dcl] 0 2>", "S[dcl]", 1), 4, "expected a derivation"),
        (CCG_S2.replace("(<L NP PRP PRP It NP>)", "(<L NP PRP PRP It NP)"), 2, "5 fields"),
        ("ID=wsj_0299.1 PARSER=GOLD NUMPARSE=1\n(<T S[dcl] 0 2> )\n", 2,
         "without well-formed"),
    )
    for text, line, message in cases:
        path = write(tmp_path / "wsj_0299.auto", text)
        with pytest.raises(DataFormatError, match=message) as e:
            rd.read_ccgbank_auto(path)
        assert_at(e, path, line)


def test_ccg_labels_come_from_prepared_data(tmp_path, monkeypatch):
    """prepare_data writes the train-derived label set; get_task reads it back."""
    from xstilts.core import data as xdata
    from xstilts.core.params import TaskSource
    from xstilts.tasks import core, get_task

    write_ccgbank(tmp_path / "ccgbank")
    monkeypatch.setattr(core, "PREPARED_ROOT", tmp_path / "prepared")
    assert get_task("ccg").labels == ()  # not prepared yet
    src = TaskSource(source="local", path=str(tmp_path / "ccgbank"))
    counts = xdata.prepare_task("ccg", src, tmp_path / "prepared" / "ccg")
    assert counts == {"train": {"en": 2}, "dev": {"en": 1}, "test": {"en": 1}}
    assert get_task("ccg").labels == xtreme.ccg_labels(xdata.load_task_data(REGISTRY["ccg"], src))
    assert get_task("ccg").labels[-1] == rd.CCG_UNKNOWN
    # re-preparing after the train data changed derives the labels afresh
    auto = tmp_path / "ccgbank" / "data" / "AUTO"
    write(auto / "03" / "wsj_0301.auto", CCG_DEV.replace("wsj_0001.1", "wsj_0301.1"))
    xdata.prepare_task("ccg", src, tmp_path / "prepared" / "ccg")
    assert "S[q]\\NP" in get_task("ccg").labels


def test_squad2_prepares_unanswerable_questions(tmp_path):
    from xstilts.core import data as xdata
    from xstilts.core.params import TaskSource

    doc = json.dumps(squad2_doc(), ensure_ascii=False)
    write(tmp_path / "train-v2.0.json", doc)
    write(tmp_path / "dev-v2.0.json", doc)
    src = TaskSource(source="local", path=str(tmp_path))
    counts = xdata.prepare_task("squad2", src, tmp_path / "prepared")
    assert counts == {"train": {"en": 3}, "dev": {"en": 3}}
    with pytest.raises(ValueError, match="no answer"):  # squad (v1.1) still requires answers
        xdata.check_records(REGISTRY["squad"], xtreme._read_squad2(tmp_path / "dev-v2.0.json"),
                            "squad")


def test_hub_snli_and_squad2(hub, monkeypatch):
    nli = {"premise": Value("string"), "hypothesis": Value("string"), "label": NLI_SHUFFLED}
    snli = _ds({"premise": ["p", "q", "r"], "hypothesis": ["h", "i", "j"], "label": [0, -1, 2]},
               nli)
    squad2 = _ds({"id": ["a", "u"], "title": ["T"] * 2, "context": ["Paris is big."] * 2,
                  "question": ["What?", "Who?"],
                  "answers": [{"text": ["Paris"], "answer_start": [0]},
                              {"text": [], "answer_start": []}]},
                 {"id": Value("string"), "title": Value("string"), "context": Value("string"),
                  "question": Value("string"),
                  "answers": {"text": HFSequence(Value("string")),
                              "answer_start": HFSequence(Value("int32"))}})
    fake = hf_datasets.load_dataset

    def load_dataset(path, name=None, *, revision=None, split=None, data_dir=None):
        if path == "stanfordnlp/snli":
            hub.append((path, name, revision, split, data_dir))
            return snli
        if path == "rajpurkar/squad_v2":
            hub.append((path, name, revision, split, data_dir))
            return squad2
        return fake(path, name, revision=revision, split=split, data_dir=data_dir)

    monkeypatch.setattr(hf_datasets, "load_dataset", load_dataset)
    task = REGISTRY["snli"]
    data = task.load_hub(task, ["en"])
    validate("snli", data)
    # label -1 (no gold) dropped; hub names (contradiction, entailment, neutral) mapped by name
    assert data[("en", "train")] == [
        {"id": "0", "text_a": "p", "text_b": "h", "label": 2},
        {"id": "2", "text_a": "r", "text_b": "j", "label": 1}]
    assert ("stanfordnlp/snli", "plain_text", REGISTRY["snli"].hub.revision, "validation",
            None) in hub
    task = REGISTRY["squad2"]
    data = task.load_hub(task, ["en"])
    validate("squad2", data)
    assert data[("en", "dev")][1]["answers"] == {"text": [], "answer_start": []}
    assert ("rajpurkar/squad_v2", "squad_v2", REGISTRY["squad2"].hub.revision, "train",
            None) in hub


def test_hub_revision_from_params_and_unpinned_warning(hub, caplog):
    """tasks.<name>.revision overrides the registry pin of the task's hub repo; an unpinned
    source is logged as such."""
    from xstilts.core import data as xdata
    from xstilts.core.params import TaskSource
    from xstilts.tasks.core import HubSource

    xdata.load_task_data(REGISTRY["mnli"], TaskSource(source="hub"))
    assert {c[2] for c in hub} == {xtreme.GLUE_REVISION}
    hub.clear()
    sha = "0123456789abcdef0123456789abcdef01234567"
    with caplog.at_level("WARNING", logger="xstilts.tasks.xtreme"):
        xdata.load_task_data(REGISTRY["mnli"], TaskSource(source="hub", revision=sha))
    assert {c[2] for c in hub} == {sha}
    assert not any("unpinned" in r.getMessage() for r in caplog.records)
    assert REGISTRY["mnli"].hub.revision == xtreme.GLUE_REVISION  # the registry is unchanged
    hub.clear()
    xtreme._UNPINNED_WARNED.discard("nyu-mll/glue")
    with caplog.at_level("WARNING", logger="xstilts.tasks.xtreme"):
        xtreme.hub_load(HubSource("nyu-mll/glue", "mnli"), "train")
    assert any("nyu-mll/glue is unpinned" in r.getMessage() for r in caplog.records)
    assert hub == [("nyu-mll/glue", "mnli", None, "train", None)]
    with pytest.raises(ValueError, match="'revision' pins a hub dataset"):
        TaskSource(source="local", path="/x", revision=sha)
