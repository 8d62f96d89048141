"""The embedded default mini-benchmark, built offline from Unicode CLDR (babel) and pycountry.

A smoke benchmark that exercises the X-STILTs method end to end without downloads: English
intermediate tasks (``cldr_region``, ``cldr_currency``), English target tasks evaluated zero-shot
in seven other languages (``xcat_pair``, ``xcat_choice``, ``xcat_qa``, ``xcat_tag``) and a
name-retrieval probe (``xname_retrieval``). It is not a source of claims.

Design (all deterministic; nothing depends on Python's randomized ``hash()``):

* Entities are named things of six CATEGORIES that CLDR names in every locale: countries
  (2-letter territory codes that pycountry knows as countries), languages (base language codes),
  currencies (current legal tender somewhere per ``territory_currencies``), scripts (minus the
  special ``Z*`` codes and the bare "Simplified"/"Traditional" Hans/Hant), months and weekdays.
* An entity is kept only if it has a name, different from its code, in *every* language of
  ``LANGUAGES`` and if none of its names collides (case-insensitively) with a name of another
  entity in the same language (e.g. en "Arabic" is both a language and a script: both dropped).
  So every entity is available, unambiguous, in every language.
* Entity split: within each category, entities are ranked by a SHA-256 hash of
  ``"category:code"``; dev and test each get ``max(2, round(0.2 * n))`` of them, train the rest
  (~60/20/20). The split is the same for every language and independent of the seed. Months and
  weekdays are split the same way (by hashed rank, at least two per split), so *no* test entity,
  not even a month, is ever seen in English training. The intermediate tasks use only train-
  (for train) and dev-bucket (for dev) entities, never test ones.
* Months use the locale's stand-alone wide form when the locale defines one (ru "январь", not
  the genitive "января"), else the format wide form; weekdays use the format wide form.
* Sampling uses ``random.Random`` seeded from a SHA-256 of ``(seed, task, split)``; changing the
  seed changes the sampled examples, never the entity split. Dev/test sets are *parallel*: the
  same sampled entity combinations (and gold positions) are rendered in every language, so
  scores differ across languages by language only.
* Categories are drawn with weight ``sqrt(#entities)`` so the few months/weekdays are not
  repeated to excess; exact duplicate examples are not emitted.
* Lists (``xcat_qa``, ``xcat_tag``) are joined with the locale's own CLDR list pattern
  (``babel.lists.format_list``). Tagging tokens: each name is split on whitespace (so a zh name
  is one token); the list-pattern separators are split into word / punctuation runs
  (``\\w+|[^\\w\\s]+``) tagged ``O``. This also separates ar "و" from the following name and
  zh "、"/"和" from the names; the tokens concatenated equal the text with its whitespace removed.
"""

from __future__ import annotations

import functools
import hashlib
import math
import pickle
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pycountry
from babel import Locale, localedata
from babel.core import get_global
from babel.lists import format_list

from xstilts.tasks.core import SplitData, Task, TaskType, register

EVAL_LANGUAGES: tuple[str, ...] = ("de", "es", "ru", "tr", "zh", "ar", "sw")
LANGUAGES: tuple[str, ...] = ("en", *EVAL_LANGUAGES)
CATEGORIES: tuple[str, ...] = ("country", "language", "currency", "script", "month", "weekday")
SPLITS: tuple[str, ...] = ("train", "dev", "test")
CONTINENTS: tuple[str, ...] = ("Africa", "Americas", "Asia", "Europe", "Oceania")
TAG_LABELS: tuple[str, ...] = tuple(
    sorted(["O"] + [f"{p}-{c.upper()}" for c in CATEGORIES for p in ("B", "I")])
)

_WEEKDAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # babel index 0..6
_EXCLUDED_SCRIPTS = {"Hans", "Hant"}  # en names are the bare adjectives "Simplified"/"Traditional"
_TZ_CONTINENT = {
    "Africa": "Africa",
    "America": "Americas",
    "Asia": "Asia",
    "Europe": "Europe",
    "Australia": "Oceania",
    "Pacific": "Oceania",
}  # Atlantic/, Indian/, Antarctica/, Arctic/, Etc/ zones say nothing about the continent
_CONTINENT_MAJORITY = 0.9
_WORD_OR_PUNCT = re.compile(r"\w+|[^\w\s]+")


def stable_hash(text: str) -> int:
    """A process-independent 64-bit hash (unlike the builtin ``hash``)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _rng(seed: int, *parts: str) -> random.Random:
    return random.Random(stable_hash("/".join((str(seed), *parts))))


@dataclass(frozen=True, eq=False)
class Entity:
    category: str
    code: str
    names: Mapping[str, str]  # language -> name
    split: str

    @property
    def key(self) -> str:
        return f"{self.category}:{self.code}"


# --------------------------------------------------------------------------- lexicon (CLDR)


@functools.cache
def _own_locale_data(lang: str) -> dict:
    """The locale's own CLDR data (babel's packaged pickle), without inheritance.

    Read directly rather than through ``babel.localedata.load``: babel caches merged and unmerged
    data under one key, and resolving aliases writes the resolved values back into dicts shared
    with ``root``, so e.g. the zh stand-alone month names can leak into ar/sw once anything in
    the process has touched them. The locale's own months/days dicts are not affected.
    """
    with open(localedata.resolve_locale_filename(lang), "rb") as fileobj:
        return pickle.load(fileobj)  # noqa: S301 (babel's own packaged data)


def _month_names(lang: str) -> dict[int, str]:
    """Stand-alone wide month names where the locale defines them (ru "январь", not the
    genitive "января"), else format wide ones; from the locale's own data only."""
    months = _own_locale_data(lang)["months"]
    names = dict(months["format"]["wide"])
    standalone = months.get("stand-alone", {}).get("wide")
    if isinstance(standalone, dict):
        names.update(standalone)
    return names


def _weekday_names(lang: str) -> dict[int, str]:
    return dict(_own_locale_data(lang)["days"]["format"]["wide"])


def _raw_names(lang: str) -> dict[str, dict[str, str]]:
    """{category: {code: name}} for one locale (only codes of the candidate universe)."""
    loc = Locale.parse(lang)
    countries = {c.alpha_2 for c in pycountry.countries}
    tender = {
        cur
        for periods in get_global("territory_currencies").values()
        for cur, _start, end, is_tender in periods
        if end is None and is_tender
    }
    return {
        "country": {k: v for k, v in loc.territories.items() if k in countries},
        "language": {k: v for k, v in loc.languages.items() if re.fullmatch(r"[a-z]{2,3}", k)},
        "currency": {k: v for k, v in loc.currencies.items() if k in tender},
        "script": {
            k: v
            for k, v in loc.scripts.items()
            if not k.startswith("Z") and k not in _EXCLUDED_SCRIPTS
        },
        "month": {f"{m:02d}": v for m, v in _month_names(lang).items()},
        "weekday": {_WEEKDAY_CODES[d]: v for d, v in _weekday_names(lang).items()},
    }


def _assign_splits(keys: Sequence[str]) -> dict[str, str]:
    ranked = sorted(keys, key=lambda k: (stable_hash(k), k))
    n = len(ranked)
    n_dev = n_test = max(2, round(0.2 * n))
    out = {}
    for i, key in enumerate(ranked):
        out[key] = "test" if i < n_test else "dev" if i < n_test + n_dev else "train"
    return out


@functools.lru_cache(maxsize=1)
def lexicon() -> tuple[Entity, ...]:
    """Every usable entity (named, unambiguously, in every language), with its split."""
    raw = {lang: _raw_names(lang) for lang in LANGUAGES}
    candidates: dict[str, dict[str, str]] = {}  # key -> {lang: name}
    for cat in CATEGORIES:
        for code in sorted(raw["en"][cat]):
            names = {lang: raw[lang][cat].get(code) for lang in LANGUAGES}
            if all(n and n.strip() and n != code for n in names.values()):
                candidates[f"{cat}:{code}"] = {lang: n.strip() for lang, n in names.items()}
    ambiguous: set[str] = set()
    for lang in LANGUAGES:
        counts = Counter(names[lang].casefold() for names in candidates.values())
        ambiguous |= {k for k, names in candidates.items() if counts[names[lang].casefold()] > 1}
    entities = []
    for cat in CATEGORIES:
        keys = [k for k in candidates if k.startswith(cat + ":") and k not in ambiguous]
        splits = _assign_splits(keys)
        for key in keys:
            code = key.split(":", 1)[1]
            entities.append(Entity(cat, code, dict(candidates[key]), splits[key]))
    return tuple(entities)


def entities(category: str | None = None, split: str | None = None) -> list[Entity]:
    return [
        e
        for e in lexicon()
        if (category is None or e.category == category) and (split is None or e.split == split)
    ]


@functools.cache
def name_index(lang: str) -> dict[str, Entity]:
    """name in `lang` -> entity (names are unique per language by construction)."""
    return {e.names[lang]: e for e in lexicon()}


@functools.lru_cache(maxsize=1)
def territory_continents() -> dict[str, str]:
    """Territory -> continent from its tz zone ids (``Europe/Berlin`` -> Europe).

    Zones under Atlantic/, Indian/, Antarctica/, Arctic/, Etc/ carry no continent; a territory
    is kept when >= 90% of its informative zones agree (US: 28 America + 1 Pacific -> Americas);
    otherwise (RU, ES, CL, EC) or without informative zones (IS, MU, ...) it is dropped.
    """
    votes: dict[str, Counter] = {}
    for zone, territory in sorted(get_global("zone_territories").items()):
        continent = _TZ_CONTINENT.get(zone.split("/", 1)[0])
        if continent:
            votes.setdefault(territory, Counter())[continent] += 1
    out = {}
    for territory, counter in sorted(votes.items()):
        (best, count), total = counter.most_common(1)[0], sum(counter.values())
        if count / total >= _CONTINENT_MAJORITY:
            out[territory] = best
    return out


@functools.lru_cache(maxsize=1)
def current_tender() -> dict[str, tuple[str, ...]]:
    """Territory -> its current legal-tender currencies (no end date, tender=True)."""
    return {
        t: tuple(sorted({cur for cur, _s, end, tender in periods if end is None and tender}))
        for t, periods in sorted(get_global("territory_currencies").items())
    }


def list_segments(names: Sequence[str], lang: str) -> tuple[str, list[tuple[bool, str]]]:
    """Join `names` with the locale's list pattern; return the text and its segments
    ``(is_name, string)`` in order (their concatenation is the text)."""
    marks = [f"\ue000{i}\ue001" for i in range(len(names))]
    parts = re.split("\ue000(\\d+)\ue001", format_list(marks, locale=lang))
    segments: list[tuple[bool, str]] = []
    for j, part in enumerate(parts):
        if j % 2:
            segments.append((True, names[int(part)]))
        elif part:
            segments.append((False, part))
    text = "".join(s for _, s in segments)
    assert text == format_list(list(names), locale=lang), (text, names, lang)
    return text, segments


def tokenize_list(
    names: Sequence[str], categories: Sequence[str], lang: str
) -> tuple[str, list[str], list[str]]:
    """Text of the joined list, its tokens and BIO tags (see module docstring)."""
    text, segments = list_segments(names, lang)
    by_name = dict(zip(names, categories, strict=True))
    tokens: list[str] = []
    tags: list[str] = []
    for is_name, seg in segments:
        if is_name:
            cat = by_name[seg].upper()
            parts = seg.split()
            tokens += parts
            tags += [f"B-{cat}"] + [f"I-{cat}"] * (len(parts) - 1)
        else:
            parts = _WORD_OR_PUNCT.findall(seg)
            tokens += parts
            tags += ["O"] * len(parts)
    assert "".join(tokens) == re.sub(r"\s+", "", text)
    return text, tokens, tags


# --------------------------------------------------------------------------- sampling helpers


def _pools(split: str) -> dict[str, list[Entity]]:
    return {cat: entities(cat, split) for cat in CATEGORIES}


def _weighted_categories(
    rng: random.Random, pools: dict[str, list[Entity]], k: int, min_size: int = 1
) -> list[str]:
    """k distinct categories, drawn with weight sqrt(pool size)."""
    cats = [c for c in CATEGORIES if len(pools[c]) >= min_size]
    chosen: list[str] = []
    for _ in range(k):
        rest = [c for c in cats if c not in chosen]
        chosen.append(rng.choices(rest, weights=[math.sqrt(len(pools[c])) for c in rest])[0])
    return chosen


def _gold_positions(rng: random.Random, n: int, k: int = 4) -> list[int]:
    positions = [i % k for i in range(n)]
    rng.shuffle(positions)
    return positions


def _sample_unique(
    n: int, draw: Callable[[int], tuple | None], max_tries_factor: int = 50
) -> list[tuple]:
    """Call ``draw(i)`` until n distinct non-None items are collected (or tries run out)."""
    out: list[tuple] = []
    seen: set[tuple] = set()
    tries = 0
    while len(out) < n and tries < n * max_tries_factor:
        item = draw(len(out))
        tries += 1
        if item is not None and item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _langs_for(split: str) -> tuple[str, ...]:
    return ("en",) if split == "train" else LANGUAGES


def _target_build(
    task: str,
    seed: int,
    n_train: int,
    n_eval: int,
    sample: Callable[[random.Random, dict[str, list[Entity]], int], list[tuple]],
    render: Callable[[tuple, str], dict],
) -> SplitData:
    """Sample entity combinations per split once, render them in every language of the split."""
    data: SplitData = {}
    for split in SPLITS:
        n = n_train if split == "train" else n_eval
        combos = sample(_rng(seed, task, split), _pools(split), n)
        for lang in _langs_for(split):
            data[(lang, split)] = [
                {"id": f"{task}-{lang}-{split}-{i}", **render(combo, lang)}
                for i, combo in enumerate(combos)
            ]
    return data


# --------------------------------------------------------------------------- target tasks


def _pair_sample(rng: random.Random, pools: dict[str, list[Entity]], n: int) -> list[tuple]:
    labels = [i % 2 for i in range(n)]
    rng.shuffle(labels)

    def draw(i: int) -> tuple | None:
        if labels[i]:
            (cat,) = _weighted_categories(rng, pools, 1, min_size=2)
            a, b = rng.sample(pools[cat], 2)
        else:
            ca, cb = _weighted_categories(rng, pools, 2)
            a, b = rng.choice(pools[ca]), rng.choice(pools[cb])
        return (a, b, labels[i])

    return _sample_unique(n, draw)


def _pair_render(combo: tuple, lang: str) -> dict:
    a, b, label = combo
    return {"text_a": a.names[lang], "text_b": b.names[lang], "label": label}


def build_xcat_pair(seed: int = 0, *, n_train: int = 800, n_eval: int = 150) -> SplitData:
    return _target_build("xcat_pair", seed, n_train, n_eval, _pair_sample, _pair_render)


def _choice_sample(rng: random.Random, pools: dict[str, list[Entity]], n: int) -> list[tuple]:
    positions = _gold_positions(rng, n)

    def draw(i: int) -> tuple | None:
        (cat,) = _weighted_categories(rng, pools, 1, min_size=2)
        context, gold = rng.sample(pools[cat], 2)
        others = [c for c in CATEGORIES if c != cat and pools[c]]
        distractors = [rng.choice(pools[c]) for c in rng.sample(others, 3)]
        choices = distractors[:]
        choices.insert(positions[i], gold)
        return (context, tuple(choices), positions[i])

    return _sample_unique(n, draw)


def _choice_render(combo: tuple, lang: str) -> dict:
    context, choices, label = combo
    return {
        "context": context.names[lang],
        "choices": [c.names[lang] for c in choices],
        "label": label,
    }


def build_xcat_choice(seed: int = 0, *, n_train: int = 800, n_eval: int = 150) -> SplitData:
    return _target_build("xcat_choice", seed, n_train, n_eval, _choice_sample, _choice_render)


def _qa_sample(rng: random.Random, pools: dict[str, list[Entity]], n: int) -> list[tuple]:
    def draw(i: int) -> tuple | None:
        cats = _weighted_categories(rng, pools, rng.randint(3, 5))
        askable = [c for c in cats if len(pools[c]) >= 2]
        if not askable:
            return None
        members = [rng.choice(pools[c]) for c in cats]
        q_cat = rng.choice(askable)
        answer = members[cats.index(q_cat)]
        question = rng.choice([e for e in pools[q_cat] if e is not answer])
        return (tuple(members), question, answer)

    return _sample_unique(n, draw)


def _qa_render(combo: tuple, lang: str) -> dict:
    members, question, answer = combo
    names = [e.names[lang] for e in members]
    text, segments = list_segments(names, lang)
    start = 0
    for is_name, seg in segments:
        if is_name and seg == answer.names[lang]:
            break
        start += len(seg)
    answer_text = answer.names[lang]
    assert text[start : start + len(answer_text)] == answer_text
    return {
        "question": question.names[lang],
        "context": text,
        "answers": {"text": [answer_text], "answer_start": [start]},
    }


def build_xcat_qa(seed: int = 0, *, n_train: int = 800, n_eval: int = 150) -> SplitData:
    return _target_build("xcat_qa", seed, n_train, n_eval, _qa_sample, _qa_render)


def _tag_sample(rng: random.Random, pools: dict[str, list[Entity]], n: int) -> list[tuple]:
    def draw(i: int) -> tuple | None:
        k = rng.randint(3, 6)
        cats = [c for c in CATEGORIES if pools[c]]
        weights = [math.sqrt(len(pools[c])) for c in cats]
        slots = rng.choices(cats, weights=weights, k=k)
        if len(set(slots)) < 2:
            return None
        members: list[Entity] = []
        for cat in slots:
            free = [e for e in pools[cat] if e not in members]
            if not free:
                return None
            members.append(rng.choice(free))
        return tuple(members)

    return _sample_unique(n, draw)


def _tag_render(combo: tuple, lang: str) -> dict:
    names = [e.names[lang] for e in combo]
    _, tokens, tags = tokenize_list(names, [e.category for e in combo], lang)
    return {"tokens": tokens, "tags": tags}


def build_xcat_tag(seed: int = 0, *, n_train: int = 800, n_eval: int = 150) -> SplitData:
    return _target_build("xcat_tag", seed, n_train, n_eval, _tag_sample, _tag_render)


RETRIEVAL_CATEGORIES: tuple[str, ...] = ("country", "language", "currency")


def _fold(text: str) -> str:
    """Case-, punctuation- and width-insensitive form ("igbo" ~ "Igbo", "Meta’" ~ "Metaʼ")."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).casefold())


def build_xname_retrieval(seed: int = 0, *, n_eval: int = 150) -> SplitData:
    """Pairs (name in L, English name) of dev/test-bucket countries, languages and currencies;
    pairs whose two names are equal up to case/punctuation are dropped (trivial matches)."""
    data: SplitData = {}
    for split in ("dev", "test"):
        pool = [e for e in entities(split=split) if e.category in RETRIEVAL_CATEGORIES]
        _rng(seed, "xname_retrieval", split).shuffle(pool)
        for lang in EVAL_LANGUAGES:
            pairs = [
                (e.names[lang], e.names["en"])
                for e in pool
                if _fold(e.names[lang]) != _fold(e.names["en"])
            ]
            data[(lang, split)] = [
                {"id": f"xname_retrieval-{lang}-{split}-{i}", "source": s, "target": t}
                for i, (s, t) in enumerate(pairs[:n_eval])
            ]
    return data


# --------------------------------------------------------------------------- intermediate tasks


def _intermediate_countries(split: str) -> list[Entity]:
    return entities("country", split)


def build_cldr_region(seed: int = 0, *, n_train: int = 600, n_eval: int = 150) -> SplitData:
    """English country names (CLDR name plus pycountry's name/official/common variants)."""
    continents = territory_continents()
    data: SplitData = {}
    for split, n in (("train", n_train), ("dev", n_eval)):
        rows: list[tuple[str, int]] = []
        seen: set[str] = set()
        for e in _intermediate_countries(split):
            if e.code not in continents:
                continue
            label = CONTINENTS.index(continents[e.code])
            pc = pycountry.countries.get(alpha_2=e.code)
            variants = [e.names["en"]] + [
                getattr(pc, attr, None) for attr in ("name", "official_name", "common_name")
            ]
            for text in variants:
                if text and text not in seen:
                    seen.add(text)
                    rows.append((text, label))
        rng = _rng(seed, "cldr_region", split)
        rng.shuffle(rows)
        data[("en", split)] = [
            {"id": f"cldr_region-en-{split}-{i}", "text": text, "label": label}
            for i, (text, label) in enumerate(rows[:n])
        ]
    return data


def build_cldr_currency(seed: int = 0, *, n_train: int = 600, n_eval: int = 150) -> SplitData:
    """English country name -> which of 4 English currency names is its current legal tender.

    Gold and distractor currencies come from the train+dev buckets only (never test ones);
    a country with several current tenders never has another of its tenders as distractor.
    """
    tender = current_tender()
    usable = [e for e in entities("currency") if e.split != "test"]
    by_code = {e.code: e for e in usable}
    data: SplitData = {}
    for split, n in (("train", n_train), ("dev", n_eval)):
        rng = _rng(seed, "cldr_currency", split)
        golds = [
            (country, by_code[cur])
            for country in _intermediate_countries(split)
            for cur in tender.get(country.code, ())
            if cur in by_code
        ]
        rng.shuffle(golds)  # cycled through in this order: every country about equally often
        positions = _gold_positions(rng, n)

        def draw(i: int, golds=golds, positions=positions, rng=rng) -> tuple | None:
            country, gold = golds[i % len(golds)]
            own = set(tender.get(country.code, ()))
            distractors = rng.sample([c for c in usable if c.code not in own], 3)
            choices = [c.names["en"] for c in distractors]
            choices.insert(positions[i], gold.names["en"])
            return (country.names["en"], tuple(choices), positions[i])

        combos = _sample_unique(n, draw)
        data[("en", split)] = [
            {"id": f"cldr_currency-en-{split}-{i}", "context": c, "choices": list(ch), "label": y}
            for i, (c, ch, y) in enumerate(combos)
        ]
    return data


def build_cldr_qa(seed: int = 0, *, n_train: int = 300, n_eval: int = 150) -> SplitData:
    """Span QA in every CLDR language (intermediate data of study 2, multilingual intermediate
    training): the question is a country name, the context a list of 3-5 names joined with the
    locale's list pattern -- the country's current legal-tender currency (the answer), one other
    currency and 1-3 names of other categories (distinct, not the question's country).

    Countries and the other names come from the train bucket (train) or the dev bucket (dev);
    currencies from the train+dev buckets; never the test bucket, so no entity of a target's
    test set appears. Each language samples its own examples (RNG per language): the data in
    language L is native CLDR naming, not a translation of the English set.
    """
    tender = current_tender()
    currencies = [e for e in entities("currency") if e.split != "test"]
    by_code = {e.code: e for e in currencies}
    data: SplitData = {}
    for split, n in (("train", n_train), ("dev", n_eval)):
        pools = _pools(split)
        others = [c for c in CATEGORIES if c != "currency" and len(pools[c]) >= 2]
        golds = [
            (country, by_code[cur])
            for country in entities("country", split)
            for cur in tender.get(country.code, ())
            if cur in by_code
        ]
        for lang in LANGUAGES:
            rng = _rng(seed, "cldr_qa", split, lang)
            order = golds[:]
            rng.shuffle(order)  # cycled through: every country about equally often

            def draw(i: int, order=order, rng=rng, pools=pools, others=others) -> tuple | None:
                country, gold = order[i % len(order)]
                own = set(tender.get(country.code, ()))
                distractor = rng.choice([c for c in currencies if c.code not in own])
                cats = rng.sample(others, rng.randint(1, 3))
                fillers = [rng.choice([e for e in pools[c] if e is not country]) for c in cats]
                members = [gold, distractor, *fillers]
                rng.shuffle(members)
                return (tuple(members), country, gold)

            data[(lang, split)] = [
                {"id": f"cldr_qa-{lang}-{split}-{i}", **_qa_render(combo, lang)}
                for i, combo in enumerate(_sample_unique(n, draw))
            ]
    return data


# --------------------------------------------------------------------------- registration

_INTERMEDIATE_SPLITS = {"en": ("train", "dev")}
_TARGET_SPLITS = {
    "en": ("train", "dev", "test"),
    **{lang: ("dev", "test") for lang in EVAL_LANGUAGES},
}

register(
    Task(
        name="cldr_region",
        type=TaskType.CLASSIFICATION,
        languages=("en",),
        splits=_INTERMEDIATE_SPLITS,
        labels=CONTINENTS,
        embedded=build_cldr_region,
        description="Classify an English country name (CLDR via babel, pycountry variants) by "
        "its continent, derived from the country's CLDR time-zone ids.",
        extra={"role": "intermediate"},
    )
)
register(
    Task(
        name="cldr_currency",
        type=TaskType.MULTIPLE_CHOICE,
        languages=("en",),
        splits=_INTERMEDIATE_SPLITS,
        embedded=build_cldr_currency,
        description="Pick, among 4 English CLDR currency names, the current legal tender of an "
        "English CLDR country name (babel territory_currencies).",
        extra={"role": "intermediate"},
    )
)
register(
    Task(
        name="cldr_qa",
        type=TaskType.SPAN_QA,
        languages=LANGUAGES,
        splits={lang: ("train", "dev") for lang in LANGUAGES},
        embedded=build_cldr_qa,
        description="Extract from a CLDR list-pattern-joined list of names (via babel) the "
        "current legal-tender currency of the question's country; train/dev in all eight CLDR "
        "languages (multilingual intermediate data of study 2; dev selection stays English).",
        extra={"role": "intermediate"},
    )
)
register(
    Task(
        name="xcat_pair",
        type=TaskType.PAIR_CLASSIFICATION,
        languages=LANGUAGES,
        splits=_TARGET_SPLITS,
        labels=("different", "same"),
        embedded=build_xcat_pair,
        description="Decide whether two CLDR entity names (countries, languages, currencies, "
        "scripts, months, weekdays; via babel) in the same language are of the same category.",
        extra={"role": "target"},
    )
)
register(
    Task(
        name="xcat_choice",
        type=TaskType.MULTIPLE_CHOICE,
        languages=LANGUAGES,
        splits=_TARGET_SPLITS,
        embedded=build_xcat_choice,
        description="Given a CLDR entity name (via babel), pick among 4 names the one of the "
        "same category (country, language, currency, script, month or weekday).",
        extra={"role": "target"},
    )
)
register(
    Task(
        name="xcat_qa",
        type=TaskType.SPAN_QA,
        languages=LANGUAGES,
        splits=_TARGET_SPLITS,
        embedded=build_xcat_qa,
        description="Extract from a CLDR list-pattern-joined list of CLDR entity names (via "
        "babel) the name of the same category as the question's entity name.",
        extra={"role": "target"},
    )
)
register(
    Task(
        name="xcat_tag",
        type=TaskType.TAGGING,
        languages=LANGUAGES,
        splits=_TARGET_SPLITS,
        labels=TAG_LABELS,
        embedded=build_xcat_tag,
        description="BIO-tag the category of each CLDR entity name (via babel) in a list joined "
        "with the locale's CLDR list pattern.",
        extra={"role": "target"},
    )
)
register(
    Task(
        name="xname_retrieval",
        type=TaskType.RETRIEVAL,
        languages=EVAL_LANGUAGES,
        splits={lang: ("dev", "test") for lang in EVAL_LANGUAGES},
        embedded=build_xname_retrieval,
        description="Retrieve the English CLDR name of a country, language or currency from its "
        "CLDR name in another language (via babel).",
        extra={"role": "retrieval"},
    )
)
