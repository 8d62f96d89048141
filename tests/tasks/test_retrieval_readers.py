"""Readers and loaders of the retrieval tasks: BUCC 2018 (mining records), LAReQA (XQuAD-R
JSON), Mewsli-X (official JSONL), Tatoeba / Tatoeba-R (LASER files, real ones where ../shared
has them); small files in the official formats are written by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import datasets as hf_datasets
import numpy as np
import pytest

from xstilts.core import metrics
from xstilts.tasks import REGISTRY, xtreme_r
from xstilts.tasks import readers as rd
from xstilts.tasks.readers import DataFormatError

REAL = Path(__file__).parents[2].parent / "shared" / "data" / "real"
TATOEBA_REAL = ("af", "bg", "de", "es", "eu", "fi", "he", "hu", "it", "jv", "kk", "ml", "nl",
                "ru", "ta", "th", "tr", "vi")  # fmt: skip


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def validate(name: str, data: dict) -> None:
    task = REGISTRY[name]
    features = task.schema
    for (lang, split), records in data.items():
        assert split in task.splits[lang], (lang, split)
        hf_datasets.Dataset.from_list(records, features=features)
        assert all(set(r) == set(features) for r in records)
        ids = [r["id"] for r in records]
        assert len(ids) == len(set(ids)), (lang, split)


# --------------------------------------------------------------------------- BUCC


def write_bucc_files(root: Path, lang: str = "zh") -> None:
    """BUCC 2018 archives layout: <lang>-en/<lang>-en.{sample,training}.{<lang>,en,gold}."""
    src = ["我爱你。", "今天天气很好。", "没有翻译的句子。", "我爱你。"]  # line 4 repeats line 1
    en = ["The weather is nice today.", "I love you.", "Unrelated sentence.", "A cat."]
    for name in ("sample", "training"):
        base = root / f"{lang}-en" / f"{lang}-en.{name}"
        _write(Path(f"{base}.{lang}"), "".join(f"{lang}-00000000{i + 1}\t{s}\n"
                                               for i, s in enumerate(src)))
        _write(Path(f"{base}.en"), "".join(f"en-00000000{i + 1}\t{s}\n" for i, s in enumerate(en)))
        _write(Path(f"{base}.gold"), f"{lang}-000000001\ten-000000002\n"
               f"{lang}-000000002\ten-000000001\n")


def test_bucc_local_gives_both_full_sentence_sets(tmp_path):
    write_bucc_files(tmp_path, "zh")
    task = REGISTRY["bucc"]
    data = task.load_local(task, tmp_path, ["zh"])
    validate("bucc", data)
    assert set(data) == {("zh", "dev"), ("zh", "test")}
    rows = data[("zh", "dev")]
    queries = [r for r in rows if r["role"] == "query"]
    cands = [r for r in rows if r["role"] == "candidate"]
    assert [r["text"] for r in queries] == ["我爱你。", "今天天气很好。", "没有翻译的句子。",
                                            "我爱你。"]
    assert [r["relevant"] for r in queries] == [["en-000000002"], ["en-000000001"], [], []]
    assert {r["lang"] for r in queries} == {"zh"} and {r["lang"] for r in cands} == {"en"}
    assert len(cands) == 4  # every English sentence, not only the gold ones
    assert task.load_hub is None  # the hub copies hold the gold pairs only
    with pytest.raises(FileNotFoundError, match="ru-en"):
        task.load_local(task, tmp_path, ["ru"])


def test_bucc_gold_naming_a_missing_sentence(tmp_path):
    write_bucc_files(tmp_path, "zh")
    _write(tmp_path / "zh-en" / "zh-en.sample.gold", "zh-000000001\ten-000000002\n"
           "zh-000000009\ten-000000001\n")
    task = REGISTRY["bucc"]
    with pytest.raises(DataFormatError, match=r"zh-en\.sample\.gold:2: .*zh-000000009"):
        task.load_local(task, tmp_path, ["zh"])


# --------------------------------------------------------------------------- LAReQA (XQuAD-R)


def _paragraph(sentences: list[str], qas: list[dict]) -> dict:
    context = "".join(sentences)
    breaks, start = [], 0
    for s in sentences:
        breaks.append([start, start + len(s)])
        start += len(s)
    return {"context": context, "sentences": sentences, "sentence_breaks": breaks, "qas": qas}


def _qa(qid: str, question: str, answer: str, start: int) -> dict:
    return {"id": qid, "question": question, "answers": [{"text": answer, "answer_start": start}]}


def write_xquad_r(root: Path) -> None:
    """xquad-r/{en,de,zh}.json: q1 answered in sentence 0 of paragraph 1 everywhere; q2 in
    sentence 0 of paragraph 2 (German repeats that sentence; Chinese answer start lies in no
    sentence, so zh's q2 is skipped and zh's paragraph 2 gives no candidates)."""
    docs = {
        "en": [_paragraph(["Paris is the capital of France. ", "It has many museums."],
                          [_qa("q1", "What is the capital of France?", "Paris", 0)]),
               _paragraph(["Berlin is in Germany. ", "It is large."],
                          [_qa("q2", "Where is Berlin?", "in Germany", 10)])],
        "de": [_paragraph(["Paris ist die Hauptstadt Frankreichs. ", "Es hat viele Museen."],
                          [_qa("q1", "Was ist die Hauptstadt Frankreichs?", "Paris", 0)]),
               _paragraph(["Berlin liegt in Deutschland. ", "Berlin liegt in Deutschland. "],
                          [_qa("q2", "Wo liegt Berlin?", "in Deutschland", 13)])],
        "zh": [_paragraph(["巴黎是法国的首都。", "它有很多\n博物馆。"],
                          [_qa("q1", "法国的首都是哪里？", "巴黎", 0)]),
               _paragraph(["柏林在德国。", "它很大。"], [_qa("q2", "柏林在哪里？", "德国", 10)])],
    }
    for lang, pars in docs.items():
        _write(root / "xquad-r" / f"{lang}.json", json.dumps(
            {"version": "1.1", "data": [{"title": "T", "paragraphs": pars}]}, ensure_ascii=False))


def test_lareqa_local_pool_and_relevance(tmp_path):
    write_xquad_r(tmp_path)
    task = REGISTRY["lareqa"]
    data = task.load_local(task, tmp_path, ["de", "zh"])
    validate("lareqa", data)
    assert set(data) == {("en", "test"), ("en", "candidates"), ("de", "test"), ("zh", "test")}
    pool = data[("en", "candidates")]
    assert [c["id"] for c in pool] == ["en_1_0", "en_1_1", "en_2_0", "en_2_1", "de_1_0", "de_1_1",
                                       "de_2_0", "de_2_1", "zh_1_0", "zh_1_1"]
    # candidate text = sentence + its paragraph, newlines removed (evaluate_retrieval.py)
    zh = {c["id"]: c for c in pool}
    assert zh["zh_1_1"]["text"] == "它有很多博物馆。巴黎是法国的首都。它有很多博物馆。"
    assert zh["zh_1_1"]["lang"] == "zh"
    q = {r["id"]: r for lang in ("en", "de", "zh") for r in data[(lang, "test")]}
    assert sorted(q) == ["q1_de", "q1_en", "q1_zh", "q2_de", "q2_en"]  # zh q2 skipped
    assert q["q1_zh"]["text"] == "法国的首都是哪里？"
    assert q["q1_zh"]["relevant"] == ["de_1_0", "en_1_0", "zh_1_0"]
    # the German answer sentence occurs twice in its paragraph: both are relevant (as official)
    assert q["q2_en"]["relevant"] == ["de_2_0", "de_2_1", "en_2_0"]
    assert task.load_hub is None


def test_lareqa_errors(tmp_path):
    write_xquad_r(tmp_path)
    path = tmp_path / "xquad-r" / "de.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["data"][0]["paragraphs"][0]["qas"][0]["answers"].append(
        {"text": "x", "answer_start": 1})
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    line = path.read_text(encoding="utf-8")[: path.read_text().index('"q1"')].count("\n") + 1
    assert line > 1
    with pytest.raises(DataFormatError, match=rf"de\.json:{line}: .*2 answers"):
        xtreme_r.read_xquad_r(path, "de")
    doc["data"][0]["paragraphs"][0]["qas"][0]["answers"].pop()
    doc["data"][0]["paragraphs"][0]["sentence_breaks"][0] = [0, 999]
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    line = path.read_text()[: path.read_text().index('"context"')].count("\n") + 1
    with pytest.raises(DataFormatError, match=rf"de\.json:{line}: .*bad sentence break"):
        xtreme_r.read_xquad_r(path, "de")
    path.write_text('{"data": [', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"de\.json:1: invalid JSON"):
        xtreme_r.read_xquad_r(path, "de")
    task = REGISTRY["lareqa"]
    (tmp_path / "xquad-r" / "zh.json").unlink()
    with pytest.raises(FileNotFoundError, match="zh.json"):
        task.load_local(task, tmp_path / "nowhere", ["zh"])


# --------------------------------------------------------------------------- Mewsli-X


def _spans(text: str, sentences: list[str]) -> list[dict]:
    out, start = [], 0
    for s in sentences:
        start = text.index(s, start)
        out.append({"start": start, "end": start + len(s)})
        start += len(s)
    return out


def _article(lang: str, sentences: list[str], mentions: list[tuple[str, str, str, int]],
             sep: str = "") -> dict:
    text = sep.join(sentences)
    ms = []
    for example_id, entity, surface, nth in mentions:
        start = -1
        for _ in range(nth + 1):
            start = text.index(surface, start + 1)
        ms.append({"example_id": example_id, "entity_id": entity,
                   "mention_span": {"start": start, "end": start + len(surface),
                                    "text": surface}})
    return {"context": {"document_title": "t", "document_url": "u", "document_id": f"d-{lang}",
                        "language": lang, "text": text,
                        "sentence_spans": _spans(text, sentences)},
            "mentions": ms}


def _entity(qid: str, lang: str, sentences: list[str], sep: str = " ") -> dict:
    text = sep.join(sentences)
    return {"entity_id": qid, "title": qid, "description": text,
            "sentence_spans": _spans(text, sentences), "description_language": lang,
            "description_url": f"https://{lang}.wikipedia.org/wiki/{qid}"}


ARTICLES = [
    _article("ja", ["東京は日本の首都です。", "富士山は{高い}山です。"],
             [("ja-1", "Q1490", "東京", 0), ("ja-2", "Q39231", "富士山", 0)]),
    _article("uk", ["Київ — столиця України."], [("uk-1", "Q1899", "Київ", 0)]),
    _article("en", ["Tokyo is big.", "It is in Japan."], [("en-1", "Q17", "Japan", 0)], "\n"),
]
ENTITIES = [
    _entity("Q1490", "ja", ["東京都は日本の首都。", "人口が多い。"], ""),
    _entity("Q39231", "en", ["Mount Fuji is the highest mountain in Japan."]),
    _entity("Q1899", "uk", ["Київ — столиця України."]),
    _entity("Q17", "en", ["Japan is an island country.", "It is in Asia."], "\n"),
    _entity("Q2", "en", ["Earth is a planet."]),
]


def write_mewslix(root: Path) -> None:
    """wikinews_mentions-test.jsonl + candidate_set_entities.jsonl (get-mewsli-x.sh output)."""
    _write(root / "wikinews_mentions-test.jsonl",
           "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in ARTICLES))
    _write(root / "candidate_set_entities.jsonl",
           "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in ENTITIES))


def test_mention_query_as_preprocess_mention():
    # one sentence of context, mention marked with { }, pre-existing {x} escaped to (x),
    # the mention prepended, double spaces collapsed once
    q = {r["id"]: r["text"] for r in xtreme_r.mewslix_queries(ARTICLES[0], "f", 1)}
    assert q == {"ja-1": "東京: { 東京 } は日本の首都です。",
                 "ja-2": "富士山: { 富士山 } は(高い)山です。"}
    single = {"context": ARTICLES[0]["context"], "mention": ARTICLES[0]["mentions"][1]}
    assert [r["text"] for r in xtreme_r.mewslix_queries(single, "f", 1)] == [q["ja-2"]]
    en = xtreme_r.mewslix_queries(ARTICLES[2], "f", 3)[0]
    assert en["text"] == "Japan: It is in { Japan } ."  # only the mention's sentence
    assert en["relevant"] == ["Q17"] and en["lang"] == "en"


def test_mewslix_local(tmp_path):
    write_mewslix(tmp_path)
    task = REGISTRY["mewslix"]
    data = task.load_local(task, tmp_path, ["ja", "uk"])
    validate("mewslix", data)
    assert set(data) == {("en", "test"), ("en", "candidates"), ("ja", "test"), ("uk", "test")}
    assert [r["id"] for r in data[("ja", "test")]] == ["ja-1", "ja-2"]
    assert data[("uk", "test")][0] == {"id": "uk-1", "role": "query",
                                       "text": "Київ: { Київ } — столиця України.", "lang": "uk",
                                       "relevant": ["Q1899"]}
    cands = {c["id"]: c for c in data[("en", "candidates")]}
    assert len(cands) == 5
    assert cands["Q1490"]["text"] == "東京都は日本の首都。 人口が多い。"  # sentences joined by " "
    assert cands["Q17"]["text"] == "Japan is an island country. It is in Asia."
    assert cands["Q1490"]["lang"] == "ja"


def test_mewslix_errors(tmp_path):
    bad = json.loads(json.dumps(ARTICLES[1]))
    bad["mentions"][0]["mention_span"]["text"] = "Львів"
    path = _write(tmp_path / "wikinews_mentions-test.jsonl",
                  json.dumps(ARTICLES[0], ensure_ascii=False) + "\n"
                  + json.dumps(bad, ensure_ascii=False) + "\n")
    with pytest.raises(DataFormatError, match=r"wikinews_mentions-test\.jsonl:2: .*Львів"):
        xtreme_r.read_mewslix_mentions(path)
    no_text = json.loads(json.dumps(ARTICLES[1]))
    no_text["context"]["text"] = ""
    no_text["context"]["sentence_spans"] = []
    _write(path, json.dumps(no_text) + "\n")
    with pytest.raises(DataFormatError, match="get-mewsli-x.sh"):
        xtreme_r.read_mewslix_mentions(path)
    cand = _write(tmp_path / "candidate_set_entities.jsonl",
                  "".join(json.dumps(e) + "\n" for e in [ENTITIES[0], ENTITIES[0]]))
    with pytest.raises(DataFormatError, match=r"entities\.jsonl:2: duplicate entity_id"):
        xtreme_r.read_mewslix_entities(cand)


def test_mewslix_hub_reads_official_rows(monkeypatch):
    calls = []

    def load_dataset(path, name=None, revision=None, split=None, **kw):
        calls.append((path, name, revision, split))
        if name == "candidate_entities":
            return ENTITIES
        return [a for a in ARTICLES if a["context"]["language"] == name]

    monkeypatch.setattr(hf_datasets, "load_dataset", load_dataset)
    task = REGISTRY["mewslix"]
    data = task.load_hub(task, ["uk"])
    validate("mewslix", data)
    assert [r["id"] for r in data[("uk", "test")]] == ["uk-1"]
    assert len(data[("en", "candidates")]) == 5
    assert ("izhx/mewsli-x", "candidate_entities", xtreme_r.MEWSLIX_HUB.revision, "test") in calls


# --------------------------------------------------------------------------- Tatoeba


def test_tatoeba_r_language_set():
    r, x = REGISTRY["tatoeba_r"], REGISTRY["tatoeba"]
    assert len(r.languages) == 41 and len(x.languages) == 36
    assert set(r.languages) - set(x.languages) == {"az", "lt", "pl", "uk", "ro"}
    assert r.extra["iso3"]["uk"] == "ukr" and r.hub == x.hub


def test_tatoeba_r_local_files(tmp_path):
    _write(tmp_path / "tatoeba.ukr-eng.ukr", "Привіт.\nЯк справи?\n")
    _write(tmp_path / "tatoeba.ukr-eng.eng", "Hello.\nHow are you?\n")
    task = REGISTRY["tatoeba_r"]
    data = task.load_local(task, tmp_path, ["uk"])
    validate("tatoeba_r", data)
    assert data[("uk", "test")][1] == {"id": "uk-1", "source": "Як справи?",
                                       "target": "How are you?"}
    with pytest.raises(FileNotFoundError, match="tatoeba.lit-eng.lit"):
        task.load_local(task, tmp_path, ["lt"])


@pytest.fixture(scope="module")
def real() -> Path:
    if not REAL.is_dir():
        pytest.skip(f"shared real data not found at {REAL} (only on the shared workspace)")
    return REAL


def test_real_tatoeba_through_tatoeba_r_and_scored(real):
    task = REGISTRY["tatoeba_r"]
    data = task.load_local(task, real / "tatoeba", list(TATOEBA_REAL))
    validate("tatoeba_r", data)
    counts = {lang: len(data[(lang, "test")]) for lang in TATOEBA_REAL}
    assert counts["jv"] == 205 and counts["kk"] == 575 and counts["th"] == 548
    assert all(n == 1000 for lang, n in counts.items()
               if lang not in ("jv", "kk", "ml", "ta", "th"))
    # score real pairs with a character-trigram embedding (shared vocabulary of both sides):
    # top-1 cosine accuracy is high for a close Latin-script pair, near chance across scripts
    def trigram(texts: list[str], vocab: dict[str, int]) -> np.ndarray:
        out = np.zeros((len(texts), 2**14), dtype=np.float32)
        for i, t in enumerate(texts):
            t = f"  {t.lower()} "
            for j in range(len(t) - 2):
                out[i, vocab.setdefault(t[j : j + 3], len(vocab)) % 2**14] += 1
        return out

    acc = {}
    for lang in ("nl", "ru"):
        rows = data[(lang, "test")]
        vocab: dict[str, int] = {}
        src = trigram([r["source"] for r in rows], vocab)
        tgt = trigram([r["target"] for r in rows], vocab)
        acc[lang] = metrics.retrieval_accuracy(src, tgt)
    assert acc["nl"] > 20.0 > acc["ru"]


def test_ranking_and_mining_records_fit_schema():
    corpus = rd.BuccCorpus({"ru-1": "Привет."}, {"en-1": "Hello.", "en-2": "Bye."},
                           {("ru-1", "en-1")})
    recs = rd.bucc_mining_records(corpus, "ru")
    assert [(r["id"], r["role"], r["relevant"]) for r in recs] == [
        ("ru-1", "query", ["en-1"]), ("en-1", "candidate", []), ("en-2", "candidate", [])]
