"""Tests of the embedded CLDR mini-benchmark (xstilts.tasks.embedded)."""

from __future__ import annotations

import functools
import re
import time
from collections import Counter

import pycountry
import pytest
from babel import Locale
from datasets import Dataset

from xstilts.tasks import REGISTRY, SCHEMAS, TaskType
from xstilts.tasks import embedded as emb

TARGETS = ("xcat_pair", "xcat_choice", "xcat_qa", "xcat_tag", "xname_retrieval")
INTERMEDIATE = ("cldr_region", "cldr_currency")
EMBEDDED = [name for name, task in sorted(REGISTRY.items()) if task.embedded is not None]


@pytest.fixture(scope="module")
def built() -> dict[str, dict]:
    return {name: REGISTRY[name].embedded(0) for name in EMBEDDED}


def test_all_tasks_registered():
    assert set(TARGETS + INTERMEDIATE) <= set(EMBEDDED)


@pytest.mark.parametrize("name", EMBEDDED)
def test_splits_and_languages_as_declared(built, name):
    task = REGISTRY[name]
    data = built[name]
    declared = {(lang, split) for lang in task.languages for split in task.splits[lang]}
    assert set(data) == declared
    assert set(task.splits) == set(task.languages)
    if "en" in task.languages:
        assert task.languages[0] == "en"
    for key, records in data.items():
        assert records, f"{name} {key} is empty"


@pytest.mark.parametrize("name", EMBEDDED)
def test_records_match_canonical_schema(built, name):
    task = REGISTRY[name]
    features = SCHEMAS[task.type]
    ids = []
    for (lang, split), records in built[name].items():
        ds = Dataset.from_list(records, features=features)
        assert len(ds) == len(records)
        for rec in records:
            assert set(rec) == set(features), rec
        ids += [rec["id"] for rec in records]
        assert records[0]["id"] == f"{name}-{lang}-{split}-0"
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", TARGETS)
def test_targets_have_eval_languages(name):
    task = REGISTRY[name]
    assert len(task.eval_languages) >= 5
    for lang in task.eval_languages:
        assert task.splits[lang] == ("dev", "test")
    if name != "xname_retrieval":
        assert task.splits["en"] == ("train", "dev", "test")
    else:
        assert "en" not in task.splits


@pytest.mark.parametrize("name", INTERMEDIATE)
def test_intermediate_tasks_english_only(name):
    task = REGISTRY[name]
    assert task.languages == ("en",)
    assert task.splits == {"en": ("train", "dev")}


@pytest.mark.parametrize("name", EMBEDDED)
def test_deterministic_and_seeded(built, name):
    builder = REGISTRY[name].embedded
    assert builder(0) == built[name]
    other = builder(1)
    assert set(other) == set(built[name])
    assert other != built[name]


@pytest.mark.parametrize("name", EMBEDDED)
def test_sizes_are_keyword_args(name):
    kwargs = {"n_eval": 7} if name == "xname_retrieval" else {"n_train": 11, "n_eval": 7}
    data = REGISTRY[name].embedded(0, **kwargs)
    for (_lang, split), records in data.items():
        assert len(records) <= (11 if split == "train" else 7)


def test_default_sizes(built):
    for name in ("xcat_pair", "xcat_choice", "xcat_qa", "xcat_tag"):
        data = built[name]
        assert len(data[("en", "train")]) == 800
        assert all(len(data[(lang, s)]) == 150 for lang, s in data if s != "train")
    assert len(built["cldr_currency"][("en", "train")]) == 600
    assert len(built["cldr_region"][("en", "train")]) >= 200
    assert all(len(v) >= 80 for v in built["xname_retrieval"].values())


def test_build_time_under_budget():
    emb.lexicon.cache_clear()
    emb.name_index.cache_clear()
    start = time.perf_counter()
    for name in EMBEDDED:
        REGISTRY[name].embedded(0)
    assert time.perf_counter() - start < 5.0


# --------------------------------------------------------------------------- entity split


def test_entity_split_partition():
    counts = Counter((e.category, e.split) for e in emb.lexicon())
    for cat in emb.CATEGORIES:
        total = sum(counts[(cat, s)] for s in emb.SPLITS)
        assert counts[(cat, "dev")] >= 2 and counts[(cat, "test")] >= 2
        assert counts[(cat, "train")] >= 3
        if total >= 50:
            assert 0.5 <= counts[(cat, "train")] / total <= 0.7
    keys = [e.key for e in emb.lexicon()]
    assert len(keys) == len(set(keys))
    for lang in emb.LANGUAGES:  # names unique (case-insensitively) per language
        names = [e.names[lang].casefold() for e in emb.lexicon()]
        assert len(names) == len(set(names))
        assert all(e.names[lang] != e.code for e in emb.lexicon())


@functools.cache
def _name_pattern(lang: str) -> re.Pattern:
    names = sorted(emb.name_index(lang), key=len, reverse=True)
    return re.compile("|".join(re.escape(n) for n in names))


def _entities_of(task: str, record: dict, lang: str) -> list[emb.Entity]:
    index = emb.name_index(lang)
    kind = REGISTRY[task].type
    if kind == TaskType.PAIR_CLASSIFICATION:
        names = [record["text_a"], record["text_b"]]
    elif kind == TaskType.MULTIPLE_CHOICE:
        names = [record["context"], *record["choices"]]
    elif kind == TaskType.SPAN_QA:
        names = [record["question"], *_name_pattern(lang).findall(record["context"])]
    elif kind == TaskType.TAGGING:
        names, sep = [], "" if lang == "zh" else " "
        for tok, tag in zip(record["tokens"], record["tags"], strict=True):
            if tag.startswith("B-"):
                names.append(tok)
            elif tag.startswith("I-"):
                names[-1] += sep + tok
    elif kind == TaskType.RETRIEVAL:
        return [emb.name_index("en")[record["target"]]]
    return [index[n] for n in names]


@pytest.mark.parametrize("name", TARGETS)
def test_no_train_entity_in_test(built, name):
    data = built[name]
    train = {e.key for rec in data.get(("en", "train"), []) for e in _entities_of(name, rec, "en")}
    for (lang, split), records in data.items():
        used = {e for rec in records for e in _entities_of(name, rec, lang)}
        assert {e.split for e in used} == {split}, (lang, split)
        if split == "test":
            assert not train & {e.key for e in used}


def test_intermediate_tasks_never_use_test_entities(built):
    test_names = {e.names["en"] for e in emb.lexicon() if e.split == "test"}
    for rec in built["cldr_currency"][("en", "train")] + built["cldr_currency"][("en", "dev")]:
        assert not test_names & {rec["context"], *rec["choices"]}
    region = {
        split: {r["text"] for r in built["cldr_region"][("en", split)]}
        for split in ("train", "dev")
    }
    assert not region["train"] & region["dev"]
    for country in emb.entities("country", "test"):
        pc = pycountry.countries.get(alpha_2=country.code)
        variants = {country.names["en"], pc.name, getattr(pc, "official_name", None)}
        assert not variants & (region["train"] | region["dev"])


# --------------------------------------------------------------------------- label semantics


def test_classification_labels(built):
    continents = emb.territory_continents()
    by_name = {e.names["en"]: e for e in emb.entities("country")}
    task = REGISTRY["cldr_region"]
    labels = Counter()
    for records in built["cldr_region"].values():
        for rec in records:
            assert 0 <= rec["label"] < task.num_labels
            labels[rec["label"]] += 1
            if rec["text"] in by_name:
                assert task.labels[rec["label"]] == continents[by_name[rec["text"]].code]
    assert set(labels) == set(range(task.num_labels))
    assert continents["DE"] == "Europe" and continents["BR"] == "Americas"
    assert continents["US"] == "Americas" and "RU" not in continents


def _check_uniform_positions(labels: list[int], k: int = 4) -> None:
    counts = Counter(labels)
    assert set(counts) <= set(range(k))
    for pos in range(k):
        assert abs(counts[pos] / len(labels) - 1 / k) < 0.05, counts


def test_multiple_choice(built):
    for name in ("cldr_currency", "xcat_choice"):
        for records in built[name].values():
            for rec in records:
                assert len(rec["choices"]) == 4 and len(set(rec["choices"])) == 4
                assert 0 <= rec["label"] < 4
            _check_uniform_positions([r["label"] for r in records])
    tender = emb.current_tender()
    countries = {e.names["en"]: e.code for e in emb.entities("country")}
    currencies = {e.names["en"]: e.code for e in emb.entities("currency")}
    for rec in built["cldr_currency"][("en", "train")]:
        codes = [currencies[c] for c in rec["choices"]]
        own = set(tender[countries[rec["context"]]])
        assert [c in own for c in codes] == [i == rec["label"] for i in range(4)]
    for (lang, _split), records in built["xcat_choice"].items():
        index = emb.name_index(lang)
        for rec in records:
            context = index[rec["context"]]
            choices = [index[c] for c in rec["choices"]]
            same = [i for i, c in enumerate(choices) if c.category == context.category]
            assert same == [rec["label"]]
            assert context not in choices
            assert len({c.category for c in choices}) == 4


def test_pair_labels(built):
    task = REGISTRY["xcat_pair"]
    assert task.labels == ("different", "same")
    for (lang, _split), records in built["xcat_pair"].items():
        index = emb.name_index(lang)
        for rec in records:
            a, b = index[rec["text_a"]], index[rec["text_b"]]
            assert a is not b
            assert rec["label"] == int(a.category == b.category)
        share = sum(r["label"] for r in records) / len(records)
        assert abs(share - 0.5) < 0.02


def test_span_answers(built):
    for (lang, _split), records in built["xcat_qa"].items():
        index = emb.name_index(lang)
        for rec in records:
            (text,), (start,) = rec["answers"]["text"], rec["answers"]["answer_start"]
            assert rec["context"][start : start + len(text)] == text
            question, answer = index[rec["question"]], index[text]
            assert question is not answer and question.category == answer.category
            found = [index[n] for n in _name_pattern(lang).findall(rec["context"])]
            assert 3 <= len(found) <= 5
            assert len({e.category for e in found}) == len(found)
            assert rec["question"] not in found


def test_tags(built):
    task = REGISTRY["xcat_tag"]
    assert task.labels == tuple(sorted(task.labels)) and "O" in task.labels
    assert len(task.labels) == 1 + 2 * len(emb.CATEGORIES)
    for records in built["xcat_tag"].values():
        for rec in records:
            assert len(rec["tokens"]) == len(rec["tags"])
            assert all(t.strip() == t and t for t in rec["tokens"])
            prev = "O"
            for tag in rec["tags"]:
                assert tag in task.labels
                if tag.startswith("I-"):
                    assert prev != "O" and prev[2:] == tag[2:]
                prev = tag
            n_entities = sum(t.startswith("B-") for t in rec["tags"])
            assert 3 <= n_entities <= 6
            assert len({t[2:] for t in rec["tags"] if t != "O"}) >= 2


@pytest.mark.parametrize("lang", emb.LANGUAGES)
def test_tokens_cover_text(lang):
    names = [e.names[lang] for e in emb.lexicon()[::97][:5]]
    cats = [e.category for e in emb.lexicon()[::97][:5]]
    text, tokens, tags = emb.tokenize_list(names, cats, lang)
    assert "".join(tokens) == re.sub(r"\s+", "", text)
    for name in names:
        assert name in text
    if lang == "zh":  # each zh name is one token
        assert [t for t, g in zip(tokens, tags, strict=True) if g != "O"] == names


def test_retrieval(built):
    for (_lang, _split), records in built["xname_retrieval"].items():
        assert all(r["source"] != r["target"] for r in records)
        assert len({r["source"] for r in records}) == len(records)
        assert len({r["target"] for r in records}) == len(records)


# --------------------------------------------------------------------------- real multilingual text


def _all_text(data: dict, lang: str) -> str:
    parts = []
    for (rec_lang, _split), records in data.items():
        if rec_lang != lang:
            continue
        for rec in records:
            for key, value in rec.items():
                if key in ("id", "target", "tags"):
                    continue
                if isinstance(value, list):
                    parts += value
                elif isinstance(value, dict):
                    parts += value["text"]
                elif isinstance(value, str):
                    parts.append(value)
    return "\n".join(parts)


def test_real_multilingual_text(built):
    texts = {
        lang: "\n".join(_all_text(built[name], lang) for name in TARGETS) for lang in emb.LANGUAGES
    }
    german_months = set(Locale.parse("de").months["format"]["wide"].values())
    assert sum(m in texts["de"] for m in german_months) >= 3
    assert "Januar" not in texts["en"].splitlines()
    assert re.search(r"[\u4e00-\u9fff]", texts["zh"])
    assert re.search(r"[\u0600-\u06ff]", texts["ar"])
    assert re.search(r"[\u0400-\u04ff]", texts["ru"])
    assert "und" in texts["de"].split() and "na" in texts["sw"].split()  # locale list patterns
    assert re.search(r"[、和]", texts["zh"])
    assert texts["sw"] != texts["en"]
    for name in ("xcat_pair", "xcat_choice", "xcat_qa", "xcat_tag"):
        en, sw = built[name][("en", "test")], built[name][("sw", "test")]
        differing = sum(
            {k: v for k, v in a.items() if k != "id"} != {k: v for k, v in b.items() if k != "id"}
            for a, b in zip(en, sw, strict=True)
        )
        assert differing > 0.8 * len(en)


def test_russian_months_are_nominative():
    names = [e.names["ru"] for e in emb.lexicon() if e.category == "month"]
    assert len(names) == 12
    assert not any(n.endswith("я") for n in names)  # not the genitive "января", "мая", ...


SCRIPT_RANGES = {"zh": r"[\u4e00-\u9fff]", "ar": r"[\u0600-\u06ff]", "ru": r"[\u0400-\u04ff]"}


@pytest.mark.parametrize("category", ["month", "weekday", "country", "language", "currency"])
def test_names_are_in_the_locale_script(category):
    for e in emb.entities(category):
        for lang, pattern in SCRIPT_RANGES.items():
            assert re.search(pattern, e.names[lang]), (lang, e.key, e.names[lang])
        if category in ("month", "weekday"):  # every language has its own names
            assert len({e.names[lang].casefold() for lang in emb.LANGUAGES}) >= 6, e.names


def test_calendar_names_match_cldr():
    months = {e.code: e for e in emb.entities("month")}
    assert len(months) == 12 and len(emb.entities("weekday")) == 7
    for lang in ("de", "es", "tr", "zh", "ar", "sw"):
        expected = Locale.parse(lang).months["format"]["wide"]
        assert {months[f"{m:02d}"].names[lang] for m in range(1, 13)} == {
            expected[m] for m in range(1, 13)
        }


def test_lexicon_immune_to_babel_alias_cache():
    """babel writes resolved stand-alone aliases back into data shared across locales."""
    before = {e.key: dict(e.names) for e in emb.lexicon()}
    for lang in ("zh", *emb.LANGUAGES):
        loc = Locale.parse(lang)
        _ = loc.months["stand-alone"]["wide"][1], loc.days["stand-alone"]["wide"][0]
    emb.lexicon.cache_clear()
    emb.name_index.cache_clear()
    emb._own_locale_data.cache_clear()
    assert {e.key: dict(e.names) for e in emb.lexicon()} == before
