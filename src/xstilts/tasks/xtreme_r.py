"""XTREME-R retrieval tasks: LAReQA (XQuAD-R), Mewsli-X, and Tatoeba in XTREME-R's 41 languages.

LAReQA and Mewsli-X are *ranking* retrieval tasks (``Task.extra["retrieval"] = "ranking"``,
records in ``RANKING_SCHEMA``): each language's ``test`` split holds its queries, whose
``relevant`` lists the ids of their relevant candidates, and the shared candidate pool is the
``candidates`` split under ``en`` (English is always prepared). The metric is mAP@20 as XTREME-R
computes it (:func:`xstilts.core.retrieval.average_precision_at_k`). ``text`` holds exactly what the
official code embeds:

* LAReQA (XTREME-R ``third_party/utils_lareqa.py`` + ``evaluate_retrieval.py``): a query is a
  question of one language; the pool is every sentence (``sentence_breaks``) of every paragraph
  that has a question, in all languages of the release; the relevant candidates of a question
  are the sentences, in every language, equal to the sentence holding the answer of that
  question (same question id) in that language. Candidate text = sentence + paragraph
  (concatenated, newlines removed). Question uid ``<qid>_<lang>``, candidate uid
  ``<lang>_<paragraph number>_<sentence index>``.
* Mewsli-X (``utils_mewslix.py``): a query is one WikiNews mention rendered by
  ``preprocess_mention`` (mention text, ':' and its sentence with the mention in '{ }'); the
  pool is the ~1M entities of ``candidate_set_entities.jsonl`` rendered by
  ``preprocess_entity_description``; the only relevant candidate is the gold entity, so AP@20
  is the reciprocal rank within the top 20 (XTREME-R's "MRR/MAP@20").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from xstilts.tasks import readers as rd
from xstilts.tasks.core import (
    CANDIDATES_SPLIT,
    HubSource,
    Records,
    SplitData,
    Task,
    TaskType,
    register,
)
from xstilts.tasks.readers import DataFormatError
from xstilts.tasks.xtreme import (
    LAYOUT,
    TATOEBA_HUB,
    TATOEBA_ISO3,
    TATOEBA_XTREME_R_ISO3,
    HubSourceError,
    _collect,
    _find,
    _Missing,
    _tatoeba_hub,
    _tatoeba_local,
    hub_load,
)

log = logging.getLogger(__name__)

LAREQA_LANGUAGES = ("en", "ar", "de", "el", "es", "hi", "ru", "th", "tr", "vi", "zh")
MEWSLIX_LANGUAGES = ("en", "ar", "de", "es", "fa", "ja", "pl", "ro", "ta", "tr", "uk")
TATOEBA_R_ISO3 = {**TATOEBA_ISO3, **TATOEBA_XTREME_R_ISO3}
TATOEBA_R_LANGUAGES = tuple(TATOEBA_R_ISO3)

# izhx/mewsli-x: the official release re-packed per language (configs <lang>: wikinews mentions,
# "candidate_entities": the candidate set); main at the time of writing. NOT confirmed by public
# code: no public project pins this repo (every use found is unpinned) and the sha appears nowhere
# else -- check it with `xstilts pin --dry-run --tasks mewslix` on a hub-connected machine.
MEWSLIX_HUB = HubSource("izhx/mewsli-x", revision="7e3723faa15c6d84cfd56d66cf6cd347be8ad00e")


def _ranking_splits(languages: Sequence[str]) -> dict[str, tuple[str, ...]]:
    return {lang: ("test", CANDIDATES_SPLIT) if lang == "en" else ("test",) for lang in languages}


# --------------------------------------------------------------------------- LAReQA (XQuAD-R)


def read_xquad_r(path: str | Path, lang: str) -> tuple[Records, Records, dict[str, set[str]]]:
    """One XQuAD-R file (SQuAD v1.1 JSON + per-paragraph ``sentence_breaks``) ->
    (questions, candidate sentences, {question id: uids of its answer sentence(s)}).

    As ``utils_lareqa.generate_examples`` / ``load_data``: paragraphs are numbered from 1 in file
    order; a question needs exactly one answer, and a question whose answer start lies in no
    sentence is skipped (warning); only paragraphs with a kept question give candidates.
    """
    doc, raw = rd._load_json(path)
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list):
        raise DataFormatError(path, 1, "expected a JSON object with a 'data' list")
    questions: Records = []
    candidates: dict[str, dict] = {}
    answer_of: dict[str, set[str]] = {}
    paragraph_no = 0
    for ai, article in enumerate(data):
        for pi, par in enumerate(rd._get(article, "paragraphs", list, path,
                                         rd._line_hint(raw, str(article.get("title", "")))
                                         if isinstance(article, dict) else None,
                                         f"data[{ai}]: ")):
            paragraph_no += 1
            where = f"data[{ai}].paragraphs[{pi}]: "
            context = rd._get(par, "context", str, path, None, where)
            line = rd._line_hint(raw, context)  # the paragraph's line (error messages)
            breaks = rd._get(par, "sentence_breaks", list, path, line, where)
            spans = []
            for b in breaks:
                if (not isinstance(b, list) or len(b) != 2
                        or not all(isinstance(v, int) and not isinstance(v, bool) for v in b)
                        or not 0 <= b[0] <= b[1] <= len(context)):
                    raise DataFormatError(path, line, f"{where}bad sentence break {b!r} "
                                          f"(context of {len(context)} characters)")
                spans.append((b[0], b[1]))
            sentences = [context[a:b] for a, b in spans]
            context_id = f"{lang}_{paragraph_no}"
            for qi, qa in enumerate(rd._get(par, "qas", list, path, line, where)):
                qwhere = f"{where}qas[{qi}]: "
                qid = rd._get(qa, "id", str, path, line, qwhere)
                qline = rd._line_hint(raw, qid) or line
                answers = rd._get(qa, "answers", list, path, qline, qwhere)
                if len(answers) != 1:
                    raise DataFormatError(path, qline, f"{qwhere}question {qid!r} has "
                                          f"{len(answers)} answers (XQuAD-R has exactly one)")
                start = rd._get(answers[0], "answer_start", int, path, qline, qwhere + "answer: ")
                answer = next((context[a:b] for a, b in spans if a <= start < b), None)
                if answer is None:
                    log.warning("%s: %squestion %r: answer start %d is in no sentence; skipped "
                                "(as XTREME-R)", path, qwhere, qid, start)
                    continue
                if qid in answer_of:
                    raise DataFormatError(path, qline, f"{qwhere}duplicate question id {qid!r}")
                questions.append({"id": f"{qid}_{lang}", "role": "query",
                                  "text": rd._get(qa, "question", str, path, qline, qwhere),
                                  "lang": lang, "relevant": []})
                for pos, sentence in enumerate(sentences):
                    uid = f"{context_id}_{pos}"
                    candidates.setdefault(uid, {
                        "id": uid, "role": "candidate",
                        "text": (sentence + context).replace("\n", ""),
                        "lang": lang, "relevant": []})
                    if sentence == answer:
                        answer_of.setdefault(qid, set()).add(uid)
    return questions, list(candidates.values()), answer_of


def lareqa_records(per_lang: dict[str, tuple[Records, Records, dict[str, set[str]]]]
                   ) -> tuple[dict[str, Records], Records]:
    """({lang: questions with ``relevant`` filled}, candidate pool of all languages): the
    relevant candidates of a question are the answer sentences of its question id in every
    language (``CandidateSet.by_xling_id``)."""
    by_qid: dict[str, set[str]] = {}
    for _, _, answer_of in per_lang.values():
        for qid, uids in answer_of.items():
            by_qid.setdefault(qid, set()).update(uids)
    queries = {}
    for lang, (questions, _, _) in per_lang.items():
        queries[lang] = [{**q, "relevant": sorted(by_qid[q["id"][: -len(lang) - 1]])}
                         for q in questions]
    pool = [c for _, cands, _ in per_lang.values() for c in cands]
    return queries, pool


def _lareqa_local(task: Task, root: Path, languages: Sequence[str]) -> SplitData:
    root = Path(root)
    cache: dict[str, Any] = {}

    def load() -> tuple[dict[str, Records], Records]:
        if not cache:
            per_lang = {}
            for lang in task.languages:  # the pool spans every language of the release
                try:
                    path = _find(root, f"xquad-r/{lang}.json", f"{lang}.json",
                                 f"lareqa/xquad-r/{lang}.json")
                except _Missing:
                    continue
                per_lang[lang] = read_xquad_r(path, lang)
            missing = [lang for lang in task.languages if lang not in per_lang]
            if missing and per_lang:
                log.warning("lareqa: no XQuAD-R file for %s under %s; the candidate pool lacks "
                            "them (XTREME-R pools all 11 languages)", missing, root)
            cache["data"] = lareqa_records(per_lang)
        return cache["data"]

    def read(lang: str, split: str) -> Records:
        queries, pool = load()
        if lang not in queries:
            raise _Missing([root / f"xquad-r/{lang}.json", root / f"{lang}.json"])
        return pool if split == CANDIDATES_SPLIT else queries[lang]

    return _collect(task, languages, read, "local")


register(Task(
    name="lareqa",
    type=TaskType.RETRIEVAL,
    languages=LAREQA_LANGUAGES,
    splits=_ranking_splits(LAREQA_LANGUAGES),
    # No hub loader: google-research-datasets/xquad_r keeps id/context/question/answers only,
    # without the sentence_breaks that define LAReQA's candidate sentences.
    load_local=_lareqa_local,
    description="LAReQA on XQuAD-R (XTREME-R): every question retrieves from the pool of all "
    "answer-paragraph sentences of all 11 languages; relevant = its answer sentence in every "
    "language; mAP@20. Local files only (google-research-datasets/lareqa xquad-r/<lang>.json; "
    "the hub copy google-research-datasets/xquad_r drops the sentence breaks).",
    extra={"role": "retrieval", "retrieval": "ranking", "metrics": ("map_at_20",)},
))


# --------------------------------------------------------------------------- Mewsli-X

_MARKER_L, _MARKER_R = "{", "}"
_MARKER_ESCAPE = re.compile(rf"{re.escape(_MARKER_L)}(.*?){re.escape(_MARKER_R)}")


def _normalize_ws(text: str) -> str:
    """``" ".join(text.splitlines()).replace("  ", " ").strip()`` (utils_mewslix)."""
    return " ".join(text.splitlines()).replace("  ", " ").strip()


def _span(obj: Any, path, line, where: str) -> tuple[int, int]:
    start = rd._get(obj, "start", int, path, line, where)
    end = rd._get(obj, "end", int, path, line, where)
    if start < 0 or end < 0 or start >= end:
        raise DataFormatError(path, line, f"{where}invalid span start={start} end={end}")
    return start, end


def _sentence_spans(obj: dict, text: str, path, line, where: str) -> list[tuple[int, int]]:
    spans = []
    for sp in rd._get(obj, "sentence_spans", list, path, line, where):
        start, end = _span(sp, path, line, where + "sentence_spans: ")
        if start >= len(text) or end > len(text):
            raise DataFormatError(path, line, f"{where}sentence span ({start}, {end}) out of "
                                  f"bounds of a text of {len(text)} characters")
        spans.append((start, end))
    return spans


def mention_query(context: str, sentences: Sequence[tuple[int, int]], start: int, end: int,
                  mention: str) -> str | None:
    """``utils_mewslix.preprocess_mention``: the mention's sentence (the first sentence span
    containing it) with the mention marked ``{ ... }`` (pre-existing ``{x}`` escaped to
    ``(x)``), prefixed by ``<mention>: ``; None when no sentence contains the mention."""
    focus = next(((a, b) for a, b in sentences if a <= start < b and a < end <= b), None)
    if focus is None:
        return None
    a, b = focus
    sentence = context[a:b]
    left = _MARKER_ESCAPE.sub(r"(\1)", sentence[: start - a])
    right = _MARKER_ESCAPE.sub(r"(\1)", sentence[end - a :])
    return _normalize_ws(f"{mention}: {left} {_MARKER_L} {mention} {_MARKER_R} {right}")


def mewslix_queries(obj: dict, path, line) -> list[dict]:
    """One ``wikinews_mentions-*.jsonl`` object (ContextualMentions: a WikiNews article and its
    ``mentions``; a ContextualMention with a single ``mention`` is accepted too) -> query records
    (id = example_id, relevant = [gold entity id])."""
    ctx = rd._get(obj, "context", dict, path, line)
    text = rd._get(ctx, "text", str, path, line, "context: ")
    lang = rd._get(ctx, "language", str, path, line, "context: ")
    sentences = _sentence_spans(ctx, text, path, line, "context: ")
    out = []
    if isinstance(obj, dict) and "mention" in obj and "mentions" not in obj:
        mentions = [rd._get(obj, "mention", dict, path, line)]
    else:
        mentions = rd._get(obj, "mentions", list, path, line)
    for i, m in enumerate(mentions):
        where = f"mentions[{i}]: "
        span = rd._get(m, "mention_span", dict, path, line, where)
        start, end = _span(span, path, line, where + "mention_span: ")
        mention = rd._get(span, "text", str, path, line, where + "mention_span: ")
        if not text:
            raise DataFormatError(path, line, "context.text is empty: the released "
                                  "wikinews_mentions_no_text files must be repopulated with "
                                  "get-mewsli-x.sh (use wikinews_mentions-<split>.jsonl)")
        if text[start:end] != mention:
            raise DataFormatError(path, line, f"{where}mention {mention!r} does not match "
                                  f"context.text[{start}:{end}] = {text[start:end]!r}")
        query = mention_query(text, sentences, start, end, mention)
        if query is None:  # the official preprocess_mention asserts here
            raise DataFormatError(path, line, f"{where}mention {mention!r} lies in no single "
                                  "sentence of context.sentence_spans")
        out.append({"id": rd._get(m, "example_id", str, path, line, where), "role": "query",
                    "text": query, "lang": lang,
                    "relevant": [rd._get(m, "entity_id", str, path, line, where).strip()]})
    return out


def mewslix_candidate(obj: dict, path, line) -> dict:
    """One ``candidate_set_entities.jsonl`` object (Entity) -> a candidate record whose text is
    ``preprocess_entity_description`` (its description sentences joined by spaces)."""
    description = rd._get(obj, "description", str, path, line)
    spans = _sentence_spans(obj, description, path, line, "")
    return {"id": rd._get(obj, "entity_id", str, path, line), "role": "candidate",
            "text": _normalize_ws(" ".join(description[a:b] for a, b in spans)),
            "lang": rd._get(obj, "description_language", str, path, line), "relevant": []}


def read_mewslix_mentions(path: str | Path) -> dict[str, Records]:
    """``wikinews_mentions-{dev,test}.jsonl`` -> {language: query records}."""
    out: dict[str, Records] = {}
    seen: set[str] = set()
    for n, obj in rd._iter_jsonl(path):
        for rec in mewslix_queries(obj, path, n):
            if rec["id"] in seen:
                raise DataFormatError(path, n, f"duplicate example_id {rec['id']!r}")
            seen.add(rec["id"])
            out.setdefault(rec["lang"], []).append(rec)
    return out


def read_mewslix_entities(path: str | Path) -> Records:
    """``candidate_set_entities.jsonl`` -> candidate records (unique entity ids)."""
    return _unique_candidates((mewslix_candidate(obj, path, n), (path, n))
                              for n, obj in rd._iter_jsonl(path))


def _unique_candidates(items: Iterable[tuple[dict, tuple]]) -> Records:
    out, seen = [], set()
    for rec, (path, line) in items:
        if rec["id"] in seen:
            raise DataFormatError(path, line, f"duplicate entity_id {rec['id']!r}")
        seen.add(rec["id"])
        out.append(rec)
    return out


def _mewslix_local(task: Task, root: Path, languages: Sequence[str]) -> SplitData:
    root = Path(root)
    cache: dict[str, Any] = {}
    prefixes = ("", "mewsli-x/", "output/dataset/", "mewsli_x/output/dataset/")

    def read(lang: str, split: str) -> Records:
        if split == CANDIDATES_SPLIT:
            return read_mewslix_entities(_find(root, *(f"{p}candidate_set_entities.jsonl"
                                                       for p in prefixes)))
        if split not in cache:
            cache[split] = read_mewslix_mentions(_find(root, *(
                f"{p}wikinews_mentions-{split}.jsonl" for p in prefixes)))
        if lang not in cache[split]:
            raise _Missing([f"{lang} mentions in wikinews_mentions-{split}.jsonl under {root}"])
        return cache[split][lang]

    return _collect(task, languages, read, "local")


def _mewslix_hub(task: Task, languages: Sequence[str]) -> SplitData:
    def read(lang: str, split: str) -> Records:
        where = f"{task.hub.path}@{task.hub.revision}"
        if split == CANDIDATES_SPLIT:
            ds = hub_load(task.hub, "test", config="candidate_entities")
            return _unique_candidates((mewslix_candidate(row, where, i + 1), (where, i + 1))
                                      for i, row in enumerate(ds))
        ds = hub_load(task.hub, split, config=lang)
        columns = list(ds.column_names if hasattr(ds, "column_names") else ds[0] if ds else [])
        missing = sorted({"context", "mentions"} - set(columns))
        if missing:  # e.g. a flat, preprocessed copy (columns mention / entity_id)
            raise HubSourceError(
                f"{where} config {lang!r} has columns {columns}, not the official "
                f"Mewsli-X records this loader reads (no {missing}): use tasks.mewslix.source: "
                f"local with the output of the official get-mewsli-x.sh")
        out = [rec for i, row in enumerate(ds) for rec in mewslix_queries(row, where, i + 1)]
        other = sorted({r["lang"] for r in out} - {lang})
        if other:
            raise ValueError(f"{where} config {lang!r} holds mentions of {other}")
        return out

    return _collect(task, languages, read, "hub")


register(Task(
    name="mewslix",
    type=TaskType.RETRIEVAL,
    languages=MEWSLIX_LANGUAGES,
    splits=_ranking_splits(MEWSLIX_LANGUAGES),
    hub=MEWSLIX_HUB,  # configs <lang> (split test) and candidate_entities
    load_hub=_mewslix_hub,
    load_local=_mewslix_local,
    description="Mewsli-X (XTREME-R): WikiNews entity mentions in 11 languages linked by "
    "retrieval to the ~1M-entity candidate set (multilingual Wikipedia descriptions); "
    "mAP@20 (= reciprocal rank of the gold entity within the top 20).",
    extra={"role": "retrieval", "retrieval": "ranking", "metrics": ("map_at_20",)},
))


# --------------------------------------------------------------------------- Tatoeba (XTREME-R)

register(Task(
    name="tatoeba_r",
    type=TaskType.RETRIEVAL,
    languages=TATOEBA_R_LANGUAGES,
    splits={lang: ("test",) for lang in TATOEBA_R_LANGUAGES},
    hub=TATOEBA_HUB,  # config = <iso3>-eng, split test
    load_hub=_tatoeba_hub,
    load_local=_tatoeba_local,
    description="Tatoeba in XTREME-R's 41 languages (XTREME's 36 + az, lt, pl, uk, ro; "
    "scripts/run_tatoeba.sh); LASER v1 test sets; top-1 accuracy of cosine nearest neighbours.",
    extra={"role": "retrieval", "retrieval": "pairs", "iso3": TATOEBA_R_ISO3},
))

LAYOUT.update({
    "tatoeba_r": "tatoeba.<iso3>-eng.{<iso3>,eng} (LASER data/tatoeba/v1/)",
    "lareqa": "xquad-r/<lang>.json (google-research-datasets/lareqa; also <lang>.json)",
    "mewslix": "wikinews_mentions-test.jsonl + candidate_set_entities.jsonl (get-mewsli-x.sh "
    "output: mewsli_x/output/dataset/; also directly under root)",
})
