"""Readers of the official release formats, each returning canonical records.

Every reader is a pure function of its file(s): it returns records in exactly the canonical schema
of its task type (see ``xstilts.tasks.core.SCHEMAS``) and raises :class:`DataFormatError` naming
the file and the line of the first problem (bad UTF-8, wrong column count, truncated or invalid
JSON, missing field, label outside the label set, ...). Nothing is silently skipped or repaired,
except where the official preprocessing of XTREME does so (documented per reader).

Text files are decoded as strict UTF-8 (a leading BOM is dropped) and split on ``\\n`` only (a
trailing ``\\r`` is removed), never with ``str.splitlines`` (which would also split on U+2028,
U+0085, ... that occur inside real sentences).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

# The one label tuple of every NLI task (mnli, anli, snli, xnli; HF ClassLabel order 0/1/2).
NLI_LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")
PAWSX_LABELS: tuple[str, ...] = ("not_paraphrase", "paraphrase")  # official 0 / 1
QQP_LABELS: tuple[str, ...] = ("not_duplicate", "duplicate")  # GLUE is_duplicate 0 / 1
SST2_LABELS: tuple[str, ...] = ("negative", "positive")  # GLUE 0 / 1
UPOS_TAGS: tuple[str, ...] = (
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM",
    "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X",
)  # fmt: skip
PANX_LABELS: tuple[str, ...] = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")

# TyDi QA GoldP question ids start with the language name ("finnish--2893018431418929425-0").
TYDIQA_LANGUAGES: dict[str, str] = {
    "arabic": "ar", "bengali": "bn", "english": "en", "finnish": "fi", "indonesian": "id",
    "korean": "ko", "russian": "ru", "swahili": "sw", "telugu": "te",
}  # fmt: skip

# Question templates rendering a COPA/XCOPA premise + question ("cause"/"effect") as the context.
COPA_TEMPLATES: dict[str, dict[str, str]] = {
    # XTREME-R third_party/run_xcopa.py: f"{premise} What was the {question}?"
    "xtreme-r": {"cause": "What was the cause?", "effect": "What was the effect?"},
    # jiant CopaTask._QUESTION_DICT (also the SuperGLUE baselines)
    "jiant": {"cause": "What was the cause of this?", "effect": "What happened as a result?"},
}


class DataFormatError(ValueError):
    """A data file does not follow its official format; names the file and (if known) line."""

    def __init__(self, path: str | Path, line: int | None, message: str):
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")


# --------------------------------------------------------------------------- low-level helpers


def read_text(path: str | Path) -> str:
    """The whole file as strict UTF-8 (leading BOM dropped); bad bytes -> DataFormatError."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataFormatError(
            path, line, f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start})"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def read_lines(path: str | Path) -> list[str]:
    """Lines of a UTF-8 text file, split on ``\\n`` only, without the line terminators."""
    lines = read_text(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _load_json(path: str | Path) -> tuple[Any, str]:
    text = read_text(path)
    try:
        return json.loads(text), text
    except json.JSONDecodeError as e:
        raise DataFormatError(path, e.lineno, f"invalid JSON: {e.msg} (column {e.colno})") from None


def _iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) per non-blank line of a JSON-lines file."""
    for n, line in enumerate(read_lines(path), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataFormatError(path, n, f"invalid JSON: {e.msg} (column {e.colno})") from None
        if not isinstance(obj, dict):
            raise DataFormatError(path, n, f"expected a JSON object, got {type(obj).__name__}")
        yield n, obj


def _get(obj: Mapping, key: str, typ: type | tuple[type, ...], path, line, where: str = "") -> Any:
    """obj[key], type-checked (bool is never accepted as int)."""
    if not isinstance(obj, Mapping) or key not in obj:
        raise DataFormatError(path, line, f"{where}missing field {key!r}")
    value = obj[key]
    types = typ if isinstance(typ, tuple) else (typ,)
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        names = "/".join(t.__name__ for t in types)
        raise DataFormatError(
            path, line, f"{where}field {key!r} must be {names}, got {type(value).__name__}"
        )
    return value


def _str_list(obj: Mapping, key: str, path, line, where: str = "") -> list[str]:
    values = _get(obj, key, list, path, line, where)
    if not all(isinstance(v, str) for v in values):
        raise DataFormatError(path, line, f"{where}field {key!r} must be a list of strings")
    return values


def _label_index(
    value: str, labels: Sequence[str], path, line, aliases: Mapping[str, str] | None = None
) -> int:
    name = (aliases or {}).get(value, value)
    if name not in labels:
        allowed = sorted(set(labels) | set(aliases or {}))
        raise DataFormatError(path, line, f"label {value!r} is not one of {allowed}")
    return labels.index(name)


def _read_tsv(path: str | Path, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a headed TSV file without quoting (as GLUE, XNLI and PAWS-X are
    read officially: csv QUOTE_NONE); every row must have exactly the header's column count."""
    lines = read_lines(path)
    if not lines:
        raise DataFormatError(path, 1, "empty file (expected a header row)")
    header = lines[0].split("\t")
    missing = [c for c in required if c not in header]
    if missing:
        raise DataFormatError(path, 1, f"header lacks column(s) {missing}; found {header}")
    for n, line in enumerate(lines[1:], 2):
        cells = line.split("\t")
        if len(cells) != len(header):
            raise DataFormatError(
                path, n, f"expected {len(header)} tab-separated columns (as the header), "
                f"found {len(cells)}"
            )
        yield n, dict(zip(header, cells, strict=True))


# --------------------------------------------------------------------------- (pair) classification


def read_pair_tsv(
    path: str | Path,
    *,
    text_a: str,
    text_b: str,
    label: str,
    labels: Sequence[str],
    id_column: str | None = None,
    aliases: Mapping[str, str] | None = None,
    id_prefix: str = "",
) -> list[dict]:
    """Pair-classification records from a headed TSV, columns taken by name."""
    required = [text_a, text_b, label] + ([id_column] if id_column else [])
    records = []
    for i, (n, row) in enumerate(_read_tsv(path, required)):
        records.append({
            "id": f"{id_prefix}{row[id_column] if id_column else i}",
            "text_a": row[text_a],
            "text_b": row[text_b],
            "label": _label_index(row[label], labels, path, n, aliases),
        })
    return records


def read_mnli_tsv(path: str | Path) -> list[dict]:
    """GLUE MNLI ``train.tsv`` / ``dev_matched.tsv`` (sentence1, sentence2, gold_label, pairID)."""
    return read_pair_tsv(path, text_a="sentence1", text_b="sentence2", label="gold_label",
                         labels=NLI_LABELS, id_column="pairID")


def read_xnli_mt_train(path: str | Path) -> list[dict]:
    """XNLI-MT-1.0 ``multinli/multinli.train.en.tsv`` (premise, hypo, label), the English MNLI
    train set as XTREME reads it ("contradictory" means contradiction)."""
    return read_pair_tsv(path, text_a="premise", text_b="hypo", label="label", labels=NLI_LABELS,
                         aliases={"contradictory": "contradiction"}, id_prefix="mnli-train-")


def read_xnli_tsv(path: str | Path, languages: Sequence[str] | None = None) -> dict[str, list]:
    """XNLI-1.0 ``xnli.dev.tsv`` / ``xnli.test.tsv`` -> {language: records} (sentence1/2 are the
    untokenized columns XTREME uses; ids are the pairID shared across languages)."""
    out: dict[str, list] = {}
    required = ["language", "gold_label", "sentence1", "sentence2", "pairID"]
    for n, row in _read_tsv(path, required):
        lang = row["language"]
        if not lang:
            raise DataFormatError(path, n, "empty 'language' column")
        if languages is not None and lang not in languages:
            continue
        out.setdefault(lang, []).append({
            "id": row["pairID"],
            "text_a": row["sentence1"],
            "text_b": row["sentence2"],
            "label": _label_index(row["gold_label"], NLI_LABELS, path, n,
                                  {"contradictory": "contradiction"}),
        })
    return out


def read_pawsx_tsv(path: str | Path) -> list[dict]:
    """PAWS-X ``train.tsv`` / ``translated_train.tsv`` / ``dev_2k.tsv`` / ``test_2k.tsv``
    (id, sentence1, sentence2, label 0/1)."""
    return read_pair_tsv(path, text_a="sentence1", text_b="sentence2", label="label",
                         labels=PAWSX_LABELS, id_column="id",
                         aliases={"0": "not_paraphrase", "1": "paraphrase"})


def read_qqp_tsv(path: str | Path) -> list[dict]:
    """GLUE QQP ``train.tsv`` / ``dev.tsv`` (id, qid1, qid2, question1, question2, is_duplicate)."""
    return read_pair_tsv(path, text_a="question1", text_b="question2", label="is_duplicate",
                         labels=QQP_LABELS, id_column="id",
                         aliases={"0": "not_duplicate", "1": "duplicate"})


def read_sst2_tsv(path: str | Path) -> list[dict]:
    """GLUE SST-2 ``train.tsv`` / ``dev.tsv`` (sentence, label 0/1)."""
    aliases = {"0": "negative", "1": "positive"}
    return [
        {"id": str(i), "text": row["sentence"],
         "label": _label_index(row["label"], SST2_LABELS, path, n, aliases)}
        for i, (n, row) in enumerate(_read_tsv(path, ["sentence", "label"]))
    ]


def read_anli_jsonl(path: str | Path) -> list[dict]:
    """ANLI v1.0 ``R{1,2,3}/{train,dev,test}.jsonl`` (uid, context, hypothesis, label e/n/c)."""
    aliases = {"e": "entailment", "n": "neutral", "c": "contradiction"}
    records = []
    for n, obj in _iter_jsonl(path):
        records.append({
            "id": _get(obj, "uid", str, path, n),
            "text_a": _get(obj, "context", str, path, n),
            "text_b": _get(obj, "hypothesis", str, path, n),
            "label": _label_index(_get(obj, "label", str, path, n), NLI_LABELS, path, n, aliases),
        })
    return records


def read_snli_jsonl(path: str | Path) -> list[dict]:
    """SNLI 1.0 ``snli_1.0_{train,dev,test}.jsonl`` (pairID, sentence1, sentence2, gold_label).

    Pairs whose ``gold_label`` is ``-`` (no majority among the annotators) are dropped, as in
    every published SNLI setup (and the hub copy's label -1); any other label outside
    :data:`NLI_LABELS` is an error. Ids are the ``pairID``.
    """
    records = []
    for n, obj in _iter_jsonl(path):
        label = _get(obj, "gold_label", str, path, n)
        if label == "-":
            continue
        records.append({
            "id": _get(obj, "pairID", str, path, n),
            "text_a": _get(obj, "sentence1", str, path, n),
            "text_b": _get(obj, "sentence2", str, path, n),
            "label": _label_index(label, NLI_LABELS, path, n),
        })
    return records


# --------------------------------------------------------------------------- span QA (SQuAD JSON)


def _line_hint(text: str, *needles: str) -> int | None:
    """Line of the first needle found in the raw JSON text (json does not keep positions)."""
    for needle in needles:
        for candidate in (json.dumps(needle, ensure_ascii=False), json.dumps(needle)):
            pos = text.find(candidate)
            if pos >= 0:
                return text.count("\n", 0, pos) + 1
    return None


def read_squad_json(
    path: str | Path, *, check_spans: bool = True, allow_unanswerable: bool = False
) -> list[dict]:
    """SQuAD-format JSON (SQuAD v1.1/v2.0, XQuAD, MLQA, TyDi QA GoldP): one record per question.

    Without ``allow_unanswerable`` every question needs at least one answer (SQuAD v1.1).
    With it (SQuAD v2.0), a question with ``"is_impossible": true`` must have an empty
    ``answers`` list and becomes a record with empty answers (its ``plausible_answers`` are
    type-checked but not kept: the official evaluation ignores them); a question with
    ``is_impossible`` false (or absent) still needs an answer. With ``check_spans``, every answer
    text must equal ``context[start:start+len(text)]`` (XTREME asserts this too). Structural
    errors name the JSON path and the line of the nearest question id (located in the raw text
    only when an error occurs).
    """
    doc, text = _load_json(path)
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list):
        raise DataFormatError(path, 1, "expected a JSON object with a 'data' list")
    records: list[dict] = []
    anchor: list[str] = []  # strings near the current position, to locate an error's line
    try:
        for ai, article in enumerate(data):
            anchor[:] = [str(article.get("title", ""))] if isinstance(article, dict) else []
            paragraphs = _get(article, "paragraphs", list, path, None, f"data[{ai}]: ")
            for pi, par in enumerate(paragraphs):
                where = f"data[{ai}].paragraphs[{pi}]: "
                qas = par.get("qas") if isinstance(par, dict) else None
                if isinstance(qas, list) and qas and isinstance(qas[0], dict):
                    anchor[:] = [str(qas[0].get("id", "")), *anchor]
                context = _get(par, "context", str, path, None, where)
                qas = _get(par, "qas", list, path, None, where)
                for qi, qa in enumerate(qas):
                    where = f"data[{ai}].paragraphs[{pi}].qas[{qi}]: "
                    if isinstance(qa, dict) and isinstance(qa.get("id"), str):
                        anchor[:] = [qa["id"], *anchor]
                    records.append(_squad_record(qa, context, check_spans, path, where,
                                                allow_unanswerable))
    except DataFormatError as e:
        if e.line is not None:
            raise
        line = _line_hint(text, *[a for a in anchor if a])
        raise DataFormatError(path, line, e.message) from None
    return records


def _squad_record(qa: Any, context: str, check_spans: bool, path, where: str,
                  allow_unanswerable: bool = False) -> dict:
    qid = _get(qa, "id", str, path, None, where)
    question = _get(qa, "question", str, path, None, where)
    answers = _get(qa, "answers", list, path, None, where)
    impossible = False
    if allow_unanswerable and "is_impossible" in qa:
        impossible = _get(qa, "is_impossible", bool, path, None, where)
    if impossible:
        if answers:
            raise DataFormatError(path, None, f"{where}question {qid!r} is_impossible but has "
                                  f"{len(answers)} answer(s)")
        for an in _get(qa, "plausible_answers", list, path, None, where) if (
                "plausible_answers" in qa) else []:
            _get(an, "text", str, path, None, where + "plausible answer: ")
            _get(an, "answer_start", int, path, None, where + "plausible answer: ")
        return {"id": qid, "question": question, "context": context,
                "answers": {"text": [], "answer_start": []}}
    if not answers:
        hint = ("(is_impossible is not true)" if allow_unanswerable else
                "(unanswerable SQuAD v2.0 questions are read only with allow_unanswerable=True, "
                "task squad2)")
        raise DataFormatError(path, None, f"{where}question {qid!r} has no answer {hint}")
    texts, starts = [], []
    for an in answers:
        a_text = _get(an, "text", str, path, None, where + "answer: ")
        start = _get(an, "answer_start", int, path, None, where + "answer: ")
        if check_spans and context[start : start + len(a_text)] != a_text:
            raise DataFormatError(path, None, f"{where}answer {a_text!r} of question {qid!r} "
                                  f"does not occur at answer_start={start} of its context")
        texts.append(a_text)
        starts.append(start)
    return {
        "id": qid,
        "question": question,
        "context": context,
        "answers": {"text": texts, "answer_start": starts},
    }


def tydiqa_language(qid: str) -> str | None:
    """ISO code of a TyDi QA GoldP question id ("arabic-123-0" -> "ar"), None if unknown."""
    return TYDIQA_LANGUAGES.get(qid.split("-", 1)[0])


def read_tydiqa_goldp_json(path: str | Path, *, check_spans: bool = True) -> dict[str, list]:
    """TyDi QA GoldP v1.1 JSON (train file, or one ``tydiqa-goldp-dev-<language>.json``)
    -> {iso language: records}, the language taken from the id prefix as XTREME does."""
    out: dict[str, list] = {}
    for rec in read_squad_json(path, check_spans=check_spans):
        lang = tydiqa_language(rec["id"])
        if lang is None:
            raise DataFormatError(
                path, None, f"question id {rec['id']!r} does not start with a TyDi QA language "
                f"name ({sorted(TYDIQA_LANGUAGES)})"
            )
        out.setdefault(lang, []).append(rec)
    return out


# --------------------------------------------------------------------------- tagging


_UD_WORD = re.compile(r"[1-9]\d*")
_UD_RANGE = re.compile(r"([1-9]\d*)-([1-9]\d*)")
_UD_EMPTY = re.compile(r"(0|[1-9]\d*)\.[1-9]\d*")

# XTREME's ud-conversion-tools (conllu_to_conll.py --replace_subtokens_with_fused_forms --lang L)
# choose the UPOS of a fused token by these precedence lists when several of its words are
# equally high in the tree.
_FUSED_POS_PRECEDENCE: dict[str, tuple[str, ...]] = {
    "default": ("VERB", "NOUN", "PROPN", "PRON", "ADJ", "NUM", "ADV", "INTJ", "AUX", "ADP",
                "DET", "PART", "CCONJ", "SCONJ", "X", "PUNCT"),
    "es": ("VERB", "AUX", "PRON", "ADP", "DET"),
    "fr": ("VERB", "AUX", "PRON", "NOUN", "ADJ", "ADV", "ADP", "DET", "PART", "SCONJ", "CONJ"),
    "it": ("VERB", "AUX", "ADV", "PRON", "ADP", "DET", "INTJ"),
}


class _UDWord(NamedTuple):
    form: str
    upos: str
    heads: tuple[int, ...]  # basic head + enhanced (DEPS) heads of integer nodes


def _fused_tag(words: dict[int, _UDWord], span: range, lang: str | None) -> str:
    """UPOS XTREME gives a fused token: its word with the fewest ancestors (basic + enhanced
    graph); ties broken by the language's POS precedence list, then by position."""

    def n_ancestors(i: int) -> int:
        seen: set[int] = set()
        todo = list(words[i].heads)
        while todo:
            h = todo.pop()
            if h not in seen:
                seen.add(h)
                if h in words:
                    todo.extend(words[h].heads)
        return len(seen)

    depth = {i: n_ancestors(i) for i in span}
    top = [i for i in span if depth[i] == min(depth.values())]
    if len(top) == 1:
        return words[top[0]].upos
    order = _FUSED_POS_PRECEDENCE.get(lang or "", _FUSED_POS_PRECEDENCE["default"])
    rank = {pos: r for r, pos in enumerate(order)}
    return words[min(top, key=lambda i: rank.get(words[i].upos, len(order)))].upos


def read_conllu(
    path: str | Path,
    *,
    multiword: str = "words",
    lang: str | None = None,
    xtreme_filters: bool = True,
) -> list[dict]:
    """Universal Dependencies CoNLL-U -> tagging records (tokens, UPOS tags), one per sentence.

    ``multiword="words"`` (default): syntactic words; multiword-token range lines (``1-2``) and
    empty nodes (``1.1``) are skipped. ``multiword="fused"``: what XTREME's
    ``conllu_to_conll.py --replace_subtokens_with_fused_forms`` produces: each range becomes one
    token (its surface form) tagged with the UPOS of its highest word (``_fused_tag``).
    ``xtreme_filters`` applies XTREME's ``udpos_preprocess``: sentences whose forms are all (or
    all but one) ``_`` are dropped (treebanks distributed without text) and U+200C and spaces
    are removed from tokens. Record ids are the ``# sent_id`` (else ``<file stem>:<n>``).
    """
    if multiword not in ("words", "fused"):
        raise ValueError(f"multiword must be 'words' or 'fused', not {multiword!r}")
    records: list[dict] = []
    sent_id: str | None = None
    words: dict[int, _UDWord] = {}
    ranges: list[tuple[int, int, str]] = []
    start_line = 1

    def flush() -> None:
        nonlocal sent_id, words, ranges
        if not words and not ranges:
            sent_id = None
            return
        if not words:
            raise DataFormatError(path, start_line, "sentence without word lines")
        for a, b, _ in ranges:
            if b > len(words):
                raise DataFormatError(path, start_line, f"range {a}-{b} exceeds the sentence")
        if multiword == "fused":
            tokens, tags, i = [], [], 1
            by_start = {a: (a, b, form) for a, b, form in ranges}
            while i <= len(words):
                if i in by_start:
                    a, b, form = by_start[i]
                    tokens.append(form)
                    tags.append(_fused_tag(words, range(a, b + 1), lang))
                    i = b + 1
                else:
                    tokens.append(words[i].form)
                    tags.append(words[i].upos)
                    i += 1
        else:
            tokens = [words[i].form for i in sorted(words)]
            tags = [words[i].upos for i in sorted(words)]
        keep = True
        if xtreme_filters:
            n_empty = sum(t == "_" for t in tokens)
            keep = n_empty == 0 or n_empty < len(tokens) - 1
            tokens = [t.replace("\u200c", "").replace(" ", "") for t in tokens]
        if keep:
            rid = sent_id if sent_id is not None else f"{Path(path).stem}:{len(records)}"
            records.append({"id": rid, "tokens": tokens, "tags": tags})
        sent_id, words, ranges = None, {}, []

    lines = read_lines(path)
    for n, line in enumerate(lines, 1):
        if not line.strip():
            flush()
            start_line = n + 1
            continue
        if line.startswith("#"):
            if words or ranges:
                raise DataFormatError(path, n, "comment line inside a sentence")
            m = re.match(r"#\s*sent_id\s*=\s*(.*\S)", line)
            if m:
                sent_id = m.group(1)
            continue
        cells = line.split("\t")
        if len(cells) != 10:
            raise DataFormatError(path, n, f"expected 10 tab-separated CoNLL-U columns, "
                                  f"found {len(cells)}")
        tid, form, _lemma, upos, _xpos, _feats, head, _deprel, deps, _misc = cells
        if _UD_EMPTY.fullmatch(tid):
            continue  # empty node of the enhanced graph: not a word
        m = _UD_RANGE.fullmatch(tid)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            if a != len(words) + 1 or b <= a:
                raise DataFormatError(path, n, f"multiword range {tid} out of sequence")
            ranges.append((a, b, form))
            continue
        if not _UD_WORD.fullmatch(tid):
            raise DataFormatError(path, n, f"invalid ID {tid!r}")
        if int(tid) != len(words) + 1:
            raise DataFormatError(path, n, f"word ID {tid} out of sequence "
                                  f"(expected {len(words) + 1})")
        if upos not in UPOS_TAGS:
            raise DataFormatError(path, n, f"UPOS {upos!r} is not a Universal POS tag")
        heads = [int(head)] if head.isdigit() else []
        if deps != "_":
            heads += [int(d.split(":", 1)[0]) for d in deps.split("|")
                      if d.split(":", 1)[0].isdigit()]
        words[int(tid)] = _UDWord(form, upos, tuple(dict.fromkeys(heads)))
    flush()
    return records


def read_panx(path: str | Path, *, labels: Sequence[str] = PANX_LABELS,
              id_prefix: str = "") -> list[dict]:
    """WikiANN / PAN-X as XTREME distributes it (Rahimi et al. splits): ``lang:token<TAB>tag``
    lines, a blank line between sentences. The ``lang:`` prefix is removed up to the first colon
    (as XTREME's ``panx_preprocess``)."""
    records: list[dict] = []
    tokens: list[str] = []
    tags: list[str] = []
    for n, line in enumerate(read_lines(path), 1):
        line = line.strip()
        if not line:
            if tokens:
                records.append({"id": f"{id_prefix}{len(records)}", "tokens": tokens,
                                "tags": tags})
            tokens, tags = [], []
            continue
        cells = line.split("\t")
        if len(cells) != 2:
            raise DataFormatError(path, n, f"expected 'lang:token<TAB>tag', found {len(cells)} "
                                  "tab-separated columns")
        field, tag = cells[0], cells[1].strip()
        colon = field.find(":")
        if colon <= 0:
            raise DataFormatError(path, n, f"token {field!r} lacks the 'lang:' prefix")
        token = field[colon + 1 :].strip()
        if not token:
            raise DataFormatError(path, n, "empty token")
        if tag not in labels:
            raise DataFormatError(path, n, f"tag {tag!r} is not one of {list(labels)}")
        tokens.append(token)
        tags.append(tag)
    if tokens:
        records.append({"id": f"{id_prefix}{len(records)}", "tokens": tokens, "tags": tags})
    return records


# CCGbank's standard split by WSJ section (Hockenmaier & Steedman 2007; Clark & Curran 2007).
CCG_SECTIONS: dict[str, tuple[str, ...]] = {
    "train": tuple(f"{i:02d}" for i in range(2, 22)),
    "dev": ("00",),
    "test": ("23",),
}
CCG_UNKNOWN = "<unk>"  # gold supertag of dev/test tokens whose category never occurs in train

_CCG_HEADER = re.compile(r"ID=(\S+)(?: \S+=\S*)*")
_CCG_LEAF = re.compile(r"\(<L (.*?)>\)")  # a leaf ends at the first ">)"


def read_ccgbank_auto(path: str | Path) -> list[dict]:
    """CCGbank AUTO file (``data/AUTO/<section>/wsj_<nnnn>.auto``) -> one record per sentence.

    Each sentence is a header line (``ID=wsj_0001.1 PARSER=GOLD NUMPARSE=1``) followed by one
    derivation line; its leaves ``(<L N/N NNP NNP Pierre N_73/N_73>)`` are (category, modified
    POS, original POS, word, predicate-argument category): the token is the 4th field after
    ``L`` and the supertag the 1st (as jiant's ``ccg_proc.py`` extracts them). Record id = the
    header's ``ID``. Blank lines are ignored; anything else out of place is an error.
    """
    records: list[dict] = []
    sid: str | None = None
    header_line = 0
    for n, line in enumerate(read_lines(path), 1):
        if not line.strip():
            continue
        if line.startswith("ID="):
            if sid is not None:
                raise DataFormatError(path, n, f"header line, but sentence {sid!r} (line "
                                      f"{header_line}) has no derivation line")
            m = _CCG_HEADER.fullmatch(line.strip())
            if m is None:
                raise DataFormatError(path, n, "malformed header (expected 'ID=<id> "
                                      "PARSER=... NUMPARSE=...')")
            sid, header_line = m.group(1), n
            continue
        if sid is None:
            raise DataFormatError(path, n, "derivation line without a preceding 'ID=' header")
        if not line.lstrip().startswith("(<"):
            raise DataFormatError(path, n, f"expected a derivation '(<T ...' or '(<L ...', "
                                  f"found {line[:30]!r}")
        tokens, tags = [], []
        for m in _CCG_LEAF.finditer(line):
            fields = m.group(1).split(" ")
            if len(fields) != 5 or not all(fields):
                raise DataFormatError(path, n, f"leaf '(<L {m.group(1)}>)' does not have 5 "
                                      "fields (category, POS, POS, word, pred-arg category)")
            tags.append(fields[0])
            tokens.append(fields[3])
        if not tokens or line.count("(<L ") != len(tokens):
            raise DataFormatError(path, n, f"sentence {sid!r}: derivation without well-formed "
                                  "'(<L ...>)' leaves")
        records.append({"id": sid, "tokens": tokens, "tags": tags})
        sid = None
    if sid is not None:
        raise DataFormatError(path, header_line, f"sentence {sid!r} has no derivation line")
    return records


def ccgbank_files(root: str | Path, split: str) -> list[Path]:
    """The ``*.auto`` files of a split's WSJ sections under ``root``: the release folder
    (``data/AUTO/<section>/``), its ``AUTO/`` folder, or a folder of section folders."""
    root = Path(root)
    for base in (root / "data" / "AUTO", root / "AUTO", root):
        if all((base / sec).is_dir() for sec in CCG_SECTIONS[split]):
            return [f for sec in CCG_SECTIONS[split] for f in sorted((base / sec).glob("*.auto"))]
    return []


def map_unseen_tags(records: list[dict], known: set[str], unknown: str = CCG_UNKNOWN) -> list:
    """Records with every tag outside ``known`` replaced by ``unknown`` (a gold tag the model
    can never get right: the tagger only learns the train set's categories)."""
    return [{**r, "tags": [t if t in known else unknown for t in r["tags"]]} for r in records]


# --------------------------------------------------------------------------- retrieval


def read_tatoeba(src_path: str | Path, eng_path: str | Path, *, id_prefix: str = "") -> list[dict]:
    """LASER Tatoeba ``tatoeba.<xxx>-eng.<xxx>`` + ``tatoeba.<xxx>-eng.eng`` (line-aligned; the
    i-th lines are translations) -> retrieval pairs (source = xxx, target = English). Lines are
    stripped as in XTREME's ``tatoeba_preprocess``; empty lines and unequal lengths are errors."""
    src, eng = read_lines(src_path), read_lines(eng_path)
    if len(src) != len(eng):
        short, n = (src_path, len(src)) if len(src) < len(eng) else (eng_path, len(eng))
        raise DataFormatError(short, n + 1, f"file ends after {n} lines but its aligned file "
                              f"has {max(len(src), len(eng))}")
    records = []
    for i, (s, t) in enumerate(zip(src, eng, strict=True)):
        for path, value in ((src_path, s), (eng_path, t)):
            if not value.strip():
                raise DataFormatError(path, i + 1, "empty sentence")
        records.append({"id": f"{id_prefix}{i}", "source": s.strip(), "target": t.strip()})
    return records


_BUCC_ID = re.compile(r"[a-z]{2}-\d+")


def read_bucc_sentences(path: str | Path) -> dict[str, str]:
    """A BUCC 2018 sentence file (``<id><TAB><sentence>`` per line) -> {id: sentence}."""
    out: dict[str, str] = {}
    for n, line in enumerate(read_lines(path), 1):
        cells = line.split("\t", 1)
        if len(cells) != 2:
            raise DataFormatError(path, n, "expected '<id><TAB><sentence>'")
        sid, sentence = cells
        if not _BUCC_ID.fullmatch(sid):
            raise DataFormatError(path, n, f"invalid BUCC sentence id {sid!r}")
        if sid in out:
            raise DataFormatError(path, n, f"duplicate sentence id {sid!r}")
        if not sentence.strip():
            raise DataFormatError(path, n, "empty sentence")
        out[sid] = sentence.strip()
    return out


def read_bucc_gold(path: str | Path) -> list[tuple[str, str, int]]:
    """A BUCC 2018 gold file (``<src id><TAB><en id>`` per line) -> [(src, en, line number)]."""
    out = []
    for n, line in enumerate(read_lines(path), 1):
        cells = line.split("\t")
        if len(cells) != 2 or not all(_BUCC_ID.fullmatch(c) for c in cells):
            raise DataFormatError(path, n, "expected '<source id><TAB><English id>'")
        out.append((cells[0], cells[1], n))
    return out


class BuccCorpus(NamedTuple):
    source: dict[str, str]  # id -> non-English sentence (all candidates, not only gold)
    target: dict[str, str]  # id -> English sentence
    gold: set[tuple[str, str]]  # (source id, English id)


# Our split names -> BUCC 2018 file names (XTREME uses "sample" as dev and "training" as test;
# the official test gold is not public). XTREME's own download renames the files to dev/test.
BUCC_SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "dev": ("sample", "dev"),
    "test": ("training", "test"),
}


def bucc_files(root: str | Path, lang: str, split: str) -> tuple[Path, Path, Path]:
    """(source, English, gold) paths of a BUCC 2018 split under ``root`` (first layout found:
    ``<lang>-en/<lang>-en.<name>.*`` as in the official archives, or flat)."""
    root = Path(root)
    names = BUCC_SPLIT_FILES.get(split, (split,))
    tried = []
    for name in names:
        bases = (root / f"{lang}-en", root, root / "bucc2018" / f"{lang}-en", root / "bucc2018")
        for base in bases:
            stem = base / f"{lang}-en.{name}"
            paths = (Path(f"{stem}.{lang}"), Path(f"{stem}.en"), Path(f"{stem}.gold"))
            if all(p.is_file() for p in paths):
                return paths
            tried.append(f"{stem}.{{{lang},en,gold}}")
    raise FileNotFoundError(f"BUCC {lang}-en {split}: none of {tried} exists")


def read_bucc_corpus(root: str | Path, lang: str, split: str) -> BuccCorpus:
    """Both full sentence sets and the gold alignment of a BUCC 2018 split (for mining + F1)."""
    src_path, en_path, gold_path = bucc_files(root, lang, split)
    src, en = read_bucc_sentences(src_path), read_bucc_sentences(en_path)
    gold = set()
    for s, t, n in read_bucc_gold(gold_path):
        if s not in src or t not in en:
            missing = s if s not in src else t
            raise DataFormatError(gold_path, n, f"gold id {missing!r} not in the sentence files")
        gold.add((s, t))
    return BuccCorpus(src, en, gold)


def bucc_mining_records(corpus: BuccCorpus, lang: str) -> list[dict]:
    """A BUCC split as mining records (``RANKING_SCHEMA``): every non-English sentence (role
    "query", ``relevant`` = its gold English ids) then every English sentence (role
    "candidate"), in file order."""
    gold: dict[str, list[str]] = {}
    for s, t in sorted(corpus.gold):
        gold.setdefault(s, []).append(t)
    return [
        *({"id": sid, "role": "query", "text": text, "lang": lang, "relevant": gold.get(sid, [])}
          for sid, text in corpus.source.items()),
        *({"id": tid, "role": "candidate", "text": text, "lang": "en", "relevant": []}
          for tid, text in corpus.target.items()),
    ]


# --------------------------------------------------------------------------- multiple choice


def read_copa_jsonl(path: str | Path, *, template: str = "xtreme-r", id_prefix: str = "") -> list:
    """COPA (SuperGLUE) / XCOPA JSONL -> 2-choice records; context = premise + the question
    rendered by ``COPA_TEMPLATES[template]`` (XTREME-R: "<premise> What was the cause?")."""
    questions = COPA_TEMPLATES[template]
    records = []
    for i, (n, obj) in enumerate(_iter_jsonl(path)):
        premise = _get(obj, "premise", str, path, n)
        question = _get(obj, "question", str, path, n)
        if question not in questions:
            raise DataFormatError(path, n, f"question {question!r} is not 'cause' or 'effect'")
        label = _get(obj, "label", int, path, n)
        if label not in (0, 1):
            raise DataFormatError(path, n, f"label {label} is not 0 or 1")
        idx = _get(obj, "idx", int, path, n) if "idx" in obj else i
        records.append({
            "id": f"{id_prefix}{idx}",
            "context": f"{premise} {questions[question]}",
            "choices": [_get(obj, "choice1", str, path, n), _get(obj, "choice2", str, path, n)],
            "label": label,
        })
    return records


def read_hellaswag_jsonl(path: str | Path) -> list[dict]:
    """HellaSwag ``hellaswag_{train,val}.jsonl`` (ind, ctx, endings, label) -> records with
    context = ctx (= ctx_a + " " + ctx_b) and the endings as choices."""
    records = []
    for n, obj in _iter_jsonl(path):
        endings = _str_list(obj, "endings", path, n)
        label = _get(obj, "label", (int, str), path, n)
        if isinstance(label, str):
            if not label.isdigit():
                raise DataFormatError(path, n, f"label {label!r} is not an ending index")
            label = int(label)
        if not 0 <= label < len(endings):
            raise DataFormatError(path, n, f"label {label} outside 0..{len(endings) - 1}")
        records.append({
            "id": str(_get(obj, "ind", (int, str), path, n)),
            "context": _get(obj, "ctx", str, path, n),
            "choices": endings,
            "label": label,
        })
    return records


def read_commonsenseqa_jsonl(path: str | Path) -> list[dict]:
    """CommonsenseQA ``{train,dev}_rand_split.jsonl`` (answerKey, id, question{stem, choices[
    {label, text}]}) -> records with context = stem, choices in file order."""
    records = []
    for n, obj in _iter_jsonl(path):
        q = _get(obj, "question", dict, path, n)
        choices = _get(q, "choices", list, path, n, "question: ")
        keys = [_get(c, "label", str, path, n, "choice: ") for c in choices]
        texts = [_get(c, "text", str, path, n, "choice: ") for c in choices]
        key = _get(obj, "answerKey", str, path, n)
        if key not in keys:
            raise DataFormatError(path, n, f"answerKey {key!r} is not one of {keys}")
        records.append({
            "id": _get(obj, "id", str, path, n),
            "context": _get(q, "stem", str, path, n, "question: "),
            "choices": texts,
            "label": keys.index(key),
        })
    return records


def read_cosmosqa_csv(path: str | Path) -> list[dict]:
    """Cosmos QA ``train.csv`` / ``valid.csv`` (id, context, question, answer0..answer3, label)
    -> records with context = "<context> <question>" (the XTREME-R SIQA rendering)."""
    answers = [f"answer{i}" for i in range(4)]
    required = ["id", "context", "question", *answers, "label"]
    lines = [line + "\n" for line in read_lines(path)]
    reader = csv.reader(lines, strict=True)
    records = []
    try:
        header = next(reader, None)
        if header is None:
            raise DataFormatError(path, 1, "empty file (expected a header row)")
        missing = [c for c in required if c not in header]
        if missing:
            raise DataFormatError(path, 1, f"header lacks column(s) {missing}; found {header}")
        col = {name: header.index(name) for name in required}
        for row in reader:
            n = reader.line_num
            if len(row) != len(header):
                raise DataFormatError(path, n, f"expected {len(header)} CSV columns, found "
                                      f"{len(row)}")
            label = row[col["label"]]
            if label not in ("0", "1", "2", "3"):
                raise DataFormatError(path, n, f"label {label!r} is not one of 0, 1, 2, 3")
            records.append({
                "id": row[col["id"]],
                "context": f"{row[col['context']]} {row[col['question']]}",
                "choices": [row[col[a]] for a in answers],
                "label": int(label),
            })
    except csv.Error as e:
        raise DataFormatError(path, reader.line_num, f"malformed CSV: {e}") from None
    return records


def read_socialiqa(jsonl_path: str | Path, labels_path: str | Path) -> list[dict]:
    """Social IQa ``{train,dev}.jsonl`` (context, question, answerA..C) + ``*-labels.lst`` (one
    label 1..3 per line) -> records with context = "<context> <question>" (XTREME-R)."""
    rows = list(_iter_jsonl(jsonl_path))
    labels = read_lines(labels_path)
    if len(rows) != len(labels):
        short, n = ((jsonl_path, len(rows)) if len(rows) < len(labels)
                    else (labels_path, len(labels)))
        raise DataFormatError(short, n + 1, f"{len(rows)} examples but {len(labels)} labels")
    records = []
    for i, ((n, obj), label) in enumerate(zip(rows, labels, strict=True)):
        if label.strip() not in ("1", "2", "3"):
            raise DataFormatError(labels_path, i + 1, f"label {label!r} is not 1, 2 or 3")
        records.append({
            "id": str(i),
            "context": f"{_get(obj, 'context', str, jsonl_path, n)} "
            f"{_get(obj, 'question', str, jsonl_path, n)}",
            "choices": [_get(obj, k, str, jsonl_path, n) for k in ("answerA", "answerB",
                                                                    "answerC")],
            "label": int(label) - 1,
        })
    return records
