"""Evaluation metrics as XTREME reports them (all scores on a 0-100 scale).

- Classification (XNLI, PAWS-X, XCOPA): :func:`accuracy`.
- Extractive QA (XQuAD, MLQA, TyDiQA-GoldP): :func:`squad_scores` re-implements the official SQuAD
  v1.1 ``evaluate-v1.1.py`` and MLQA ``mlqa_evaluation_v1.py`` definitions; :func:`xtreme_qa_score`
  is XTREME's single QA number, ``(EM + F1) / 2``.
- SQuAD v2.0: :func:`squad_v2_scores` re-implements the official ``evaluate-v2.0.py`` (an
  unanswerable question's gold is ``""``; HasAns_/NoAns_ breakdown).
- Tagging (PAN-X, UD-POS): :func:`tagging_f1`, micro F1 of ``seqeval``'s chunks, exactly as
  XTREME's ``evaluate.py``/``run_tag.py`` call it (also on raw UPOS tags, see there);
  :func:`tagging_counts` gives per-sentence counts whose sums reproduce it. CCG supertagging:
  :func:`token_accuracy`.
- Retrieval: :func:`retrieval_accuracy`, top-1 accuracy of cosine nearest neighbours (Tatoeba's
  official en -> xx direction: :func:`xstilts.core.retrieval.tatoeba_accuracy`).
"""

from __future__ import annotations

import bisect
import re
import string
import sys
import unicodedata
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cache
from typing import Literal

import numpy as np

__all__ = [
    "MLQA_LANGS",
    "accuracy",
    "normalize_answer",
    "qa_exact_match",
    "qa_f1",
    "retrieval_accuracy",
    "squad_scores",
    "squad_v2_exact",
    "squad_v2_f1",
    "squad_v2_golds",
    "squad_v2_scores",
    "tagging_counts",
    "tagging_f1",
    "token_accuracy",
    "xtreme_qa_score",
]

# --- classification -------------------------------------------------------------------------


def accuracy(predictions: Sequence, labels: Sequence) -> float:
    """Percentage of positions where ``predictions[i] == labels[i]`` (XTREME ``accuracy``)."""
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions but {len(labels)} labels")
    if not labels:
        raise ValueError("accuracy of an empty set is undefined")
    correct = sum(int(p == g) for p, g in zip(predictions, labels, strict=True))
    return 100.0 * correct / len(labels)


# --- extractive QA: SQuAD v1.1 and MLQA -----------------------------------------------------

_SQUAD_PUNCT = frozenset(string.punctuation)


@cache
def _mlqa_punct() -> frozenset[str]:
    """ASCII punctuation plus every code point of Unicode category P* (built once, lazily).

    The official script scans ``range(sys.maxunicode)``, i.e. up to U+10FFFE.
    """
    unicode_p = (chr(i) for i in range(sys.maxunicode))
    return frozenset(c for c in unicode_p if unicodedata.category(c).startswith("P")) | _SQUAD_PUNCT


_SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b")
# Per-language article patterns of mlqa_evaluation_v1.py; None = the language has no articles.
_MLQA_ARTICLES: dict[str, re.Pattern[str] | None] = {
    "en": _SQUAD_ARTICLES,
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "hi": None,
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    # The official pattern is '\sال^|ال'. Its first branch can never match ('^' after two
    # characters), so in effect EVERY occurrence of 'ال' is replaced by a space, including
    # inside words (e.g. 'فال' -> 'ف '). Reproduced as is, because it changes the tokens.
    "ar": re.compile(r"\sال^|ال"),
    "zh": None,
}
MLQA_LANGS: frozenset[str] = frozenset(_MLQA_ARTICLES)
_MLQA_MIXED_SEGMENTATION_LANGS = frozenset({"zh"})
# Only the CJK Unified Ideographs block U+4E00..U+9FA5 (as in the official regex) is split into
# single characters; extension blocks and kana are grouped like any other run of characters.
_CJK_CHAR = re.compile(r"[\u4e00-\u9fa5]")

QAScript = Literal["auto", "squad", "mlqa"]


def _mixed_segmentation(text: str) -> list[str]:
    """MLQA zh tokens: each CJK ideograph or punctuation char alone, other runs whitespace-split."""
    punct = _mlqa_punct()
    tokens: list[str] = []
    run = ""
    for char in text:
        if _CJK_CHAR.match(char) or char in punct:
            tokens.extend(run.split())
            run = ""
            tokens.append(char)
        else:
            run += char
    tokens.extend(run.split())
    return tokens


def _resolve_script(lang: str, script: QAScript) -> Literal["squad", "mlqa"]:
    if script == "squad":
        return "squad"
    if script == "mlqa":
        if lang not in MLQA_LANGS:
            raise ValueError(f"MLQA evaluation defines no rules for language {lang!r}")
        return "mlqa"
    if script != "auto":
        raise ValueError(f"script must be 'auto', 'squad' or 'mlqa', got {script!r}")
    return "mlqa" if lang in MLQA_LANGS and lang != "en" else "squad"


def normalize_answer(text: str, lang: str = "en", script: QAScript = "auto") -> str:
    """Official answer normalisation: lower, strip punctuation, drop articles, fix whitespace.

    ``script="squad"`` (and ``"auto"`` for ``en`` or a language MLQA does not define) is SQuAD
    v1.1: ASCII punctuation, English articles, whitespace tokens. ``"mlqa"`` (and ``"auto"`` for
    es/de/ar/hi/vi/zh) is MLQA v1: ASCII + Unicode P* punctuation, the language's articles, and
    for zh mixed segmentation (tokens joined by single spaces).
    """
    if _resolve_script(lang, script) == "squad":
        text = "".join(ch for ch in text.lower() if ch not in _SQUAD_PUNCT)
        return " ".join(_SQUAD_ARTICLES.sub(" ", text).split())
    punct = _mlqa_punct()
    text = "".join(ch for ch in text.lower() if ch not in punct)
    articles = _MLQA_ARTICLES[lang]
    if articles is not None:
        text = articles.sub(" ", text)
    tokens = _mixed_segmentation(text) if lang in _MLQA_MIXED_SEGMENTATION_LANGS else text.split()
    return " ".join(t for t in tokens if t.strip())


def qa_f1(prediction: str, ground_truth: str, lang: str = "en", script: QAScript = "auto") -> float:
    """Bag-of-tokens F1 (0-1) between two normalised answers; 0 when nothing overlaps."""
    pred_tokens = normalize_answer(prediction, lang, script).split()
    gold_tokens = normalize_answer(ground_truth, lang, script).split()
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:  # also covers empty answers: the official scripts score them 0
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def qa_exact_match(
    prediction: str, ground_truth: str, lang: str = "en", script: QAScript = "auto"
) -> float:
    """1.0 when the normalised answers are identical, else 0.0."""
    pred = normalize_answer(prediction, lang, script)
    return float(pred == normalize_answer(ground_truth, lang, script))


def _max_over_ground_truths(
    metric: Callable[[str, str, str, QAScript], float],
    prediction: str,
    ground_truths: Sequence[str],
    lang: str,
    script: QAScript,
) -> float:
    return max(metric(prediction, gt, lang, script) for gt in ground_truths)


def squad_scores(
    predictions: dict[str, str],
    references: dict[str, list[str]],
    lang: str = "en",
    *,
    script: QAScript = "auto",
) -> dict[str, float]:
    """Exact match and F1 (0-100) of ``predictions`` (id -> text) against ``references``.

    ``references`` maps every question id to its gold answer texts; each question scores the max
    over its gold answers, and the means run over all reference ids. An id missing from
    ``predictions`` scores 0 (and still counts), extra prediction ids are ignored, as in the
    official scripts.

    ``script`` picks the official definition: ``"auto"`` uses SQuAD v1.1 for ``en`` and for
    languages MLQA does not define, and MLQA v1 for es/de/ar/hi/vi/zh. XTREME itself scores
    XQuAD and TyDiQA-GoldP with SQuAD v1.1 in every language (``script="squad"``) and only MLQA
    with the per-language MLQA script (``script="mlqa"``; for ``en`` this differs from SQuAD
    v1.1 only in also stripping Unicode punctuation).
    """
    if not references:
        raise ValueError("references is empty")
    _resolve_script(lang, script)  # validate once, before the loop
    em_total = f1_total = 0.0
    for qid, ground_truths in references.items():
        if isinstance(ground_truths, str):
            raise TypeError(f"references[{qid!r}] must be a list of answer strings, not a str")
        if not ground_truths:
            raise ValueError(f"references[{qid!r}] has no gold answer")
        if qid not in predictions:
            continue
        prediction = predictions[qid]
        em_total += _max_over_ground_truths(qa_exact_match, prediction, ground_truths, lang, script)
        f1_total += _max_over_ground_truths(qa_f1, prediction, ground_truths, lang, script)
    n = len(references)
    return {"em": 100.0 * em_total / n, "f1": 100.0 * f1_total / n}


# --- extractive QA with unanswerable questions: SQuAD v2.0 ---------------------------------


def _v2_tokens(text: str) -> list[str]:
    return normalize_answer(text, "en", "squad").split() if text else []


def squad_v2_exact(prediction: str, ground_truth: str) -> float:
    """``compute_exact`` of evaluate-v2.0.py: 1.0 iff the SQuAD-normalised strings are equal."""
    pred = normalize_answer(prediction, "en", "squad")
    return float(pred == normalize_answer(ground_truth, "en", "squad"))


def squad_v2_f1(prediction: str, ground_truth: str) -> float:
    """``compute_f1`` of evaluate-v2.0.py (0-1): if either side has no tokens (a no-answer), 1.0
    when both have none and 0.0 otherwise; else the bag-of-tokens F1 as in v1.1."""
    gold, pred = _v2_tokens(ground_truth), _v2_tokens(prediction)
    if not gold or not pred:
        return float(gold == pred)
    num_same = sum((Counter(gold) & Counter(pred)).values())
    if num_same == 0:
        return 0.0
    precision, recall = num_same / len(pred), num_same / len(gold)
    return 2 * precision * recall / (precision + recall)


def squad_v2_golds(answers: Sequence[str]) -> list[str]:
    """The gold strings evaluate-v2.0.py scores against: the answers whose normalised text is
    non-empty, or ``[""]`` when there is none (an unanswerable question)."""
    return [a for a in answers if normalize_answer(a, "en", "squad")] or [""]


def squad_v2_scores(predictions: dict[str, str],
                    references: dict[str, list[str]]) -> dict[str, float]:
    """The official SQuAD v2.0 evaluation (0-100) without a no-answer probability file.

    ``references`` maps every question id to its gold answer texts (``[]`` = unanswerable);
    each question scores the max over :func:`squad_v2_golds` of :func:`squad_v2_exact` /
    :func:`squad_v2_f1`, so an unanswerable question scores 1 iff the prediction is empty
    (normalises to nothing). Returns ``em``, ``f1`` and, for each kind of question present,
    ``HasAns_em``, ``HasAns_f1``, ``HasAns_total``, ``NoAns_em``, ``NoAns_f1``, ``NoAns_total``
    (HasAns = the question has gold answers, as ``qid_to_has_ans``). Every reference id needs a
    prediction: the official script fails on a missing one (a KeyError in its breakdown).
    """
    if not references:
        raise ValueError("references is empty")
    missing = [qid for qid in references if qid not in predictions]
    if missing:
        raise ValueError(f"{len(missing)} question(s) without a prediction, e.g. {missing[:3]}")
    em: dict[str, float] = {}
    f1: dict[str, float] = {}
    for qid, answers in references.items():
        if isinstance(answers, str):
            raise TypeError(f"references[{qid!r}] must be a list of answer strings, not a str")
        golds = squad_v2_golds(answers)
        em[qid] = max(squad_v2_exact(predictions[qid], g) for g in golds)
        f1[qid] = max(squad_v2_f1(predictions[qid], g) for g in golds)
    out = {"em": 100.0 * sum(em.values()) / len(em), "f1": 100.0 * sum(f1.values()) / len(f1)}
    for prefix, has_ans in (("HasAns", True), ("NoAns", False)):
        qids = [q for q, answers in references.items() if bool(answers) == has_ans]
        if qids:
            out[f"{prefix}_em"] = 100.0 * sum(em[q] for q in qids) / len(qids)
            out[f"{prefix}_f1"] = 100.0 * sum(f1[q] for q in qids) / len(qids)
            out[f"{prefix}_total"] = float(len(qids))
    return out


def xtreme_qa_score(em: float, f1: float) -> float:
    """XTREME's single QA number: ``(EM + F1) / 2`` (``avg_metric`` in XTREME's evaluate.py).

    XTREME averages EM and F1 over languages first; by linearity this equals averaging the
    per-language values of this function.
    """
    return (em + f1) / 2.0


# --- tagging --------------------------------------------------------------------------------


def _check_tag_lengths(references: Sequence[Sequence[str]],
                       predictions: Sequence[Sequence[str]]) -> None:
    if len(references) != len(predictions):
        raise ValueError(
            f"{len(references)} reference sentences but {len(predictions)} predicted sentences"
        )
    for i, (ref, pred) in enumerate(zip(references, predictions, strict=True)):
        if len(ref) != len(pred):
            raise ValueError(
                f"sentence {i}: {len(ref)} reference tags but {len(pred)} predicted tags"
            )


def tagging_f1(references: list[list[str]], predictions: list[list[str]]) -> float:
    """Micro F1 (0-100) of ``seqeval.metrics.f1_score(references, predictions)``, default mode.

    This is XTREME's tagging metric for PAN-X *and* UD-POS (``evaluate.py`` ``f1`` and
    ``run_tag.py``, which score the raw label strings; ``install_tools.sh`` installs an
    unpinned ``seqeval``, default mode). On BIO tags it is entity F1. On raw UPOS tags it is not
    token accuracy: seqeval (1.x, pinned here) reads a tag's first character as its chunk
    prefix and the rest as its type (``NOUN`` -> prefix ``N``, type ``OUN``), so runs of equal
    tags merge into one chunk (``NOUN NOUN`` is one chunk), ``INTJ``/``SCONJ``/``SYM`` act as
    I-/S- prefixed tags, and all sentences are scored as one sequence joined by ``O``.
    (seqeval 0.0.x, current at XTREME's release, typed chunks by the whole tag; it can differ
    on CCONJ/SCONJ and X runs.) seqeval's "not a NE tag" warnings are silenced.
    """
    _check_tag_lengths(references, predictions)
    from seqeval.metrics import f1_score  # imported here: it pulls in scikit-learn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return 100.0 * float(f1_score(references, predictions))


def token_accuracy(references: Sequence[Sequence[str]],
                   predictions: Sequence[Sequence[str]]) -> float:
    """Per-token accuracy (0-100) over all tokens of all sentences (CCG supertagging)."""
    _check_tag_lengths(references, predictions)
    total = sum(len(r) for r in references)
    if total == 0:
        raise ValueError("accuracy of an empty set is undefined")
    correct = sum(int(g == p) for r, q in zip(references, predictions, strict=True)
                  for g, p in zip(r, q, strict=True))
    return 100.0 * correct / total


def tagging_counts(references: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]],
                   metric: str = "f1") -> np.ndarray:
    """``[n, 3]`` per-sentence (hits, predicted, gold) counts whose column sums reproduce the
    corpus metric exactly through ``2 * hits / (predicted + gold)``.

    ``metric="f1"``: seqeval's chunks of the whole corpus (sentences joined by ``O``, as
    :func:`tagging_f1` scores them), each chunk counted in the sentence where it starts (a
    chunk can run on over a sentence end with raw POS tags); hits = chunks in both.
    ``metric="acc"``: (correct tokens, tokens, tokens), so the ratio is :func:`token_accuracy`.
    """
    _check_tag_lengths(references, predictions)
    out = np.zeros((len(references), 3), dtype=np.int64)
    if metric == "acc":
        for i, (r, q) in enumerate(zip(references, predictions, strict=True)):
            out[i] = (sum(int(g == p) for g, p in zip(r, q, strict=True)), len(r), len(r))
        return out
    if metric != "f1":
        raise ValueError(f"unknown tagging metric {metric!r} (expected 'f1' or 'acc')")
    from seqeval.metrics.sequence_labeling import get_entities

    starts = np.cumsum([0] + [len(r) + 1 for r in references]).tolist()[:-1]

    def chunks(sentences: Sequence[Sequence[str]]) -> set[tuple[str, int, int]]:
        flat = [t for s in sentences for t in [*s, "O"]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return set(get_entities(flat))

    gold, pred = chunks(references), chunks(predictions)
    for col, ents in ((0, gold & pred), (1, pred), (2, gold)):
        for _, begin, _ in ents:
            out[bisect.bisect_right(starts, begin) - 1, col] += 1
    return out


# --- retrieval ------------------------------------------------------------------------------


def _l2_normalize(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)  # zero rows stay zero (as faiss.normalize_L2)


def retrieval_accuracy(source_emb: np.ndarray, target_emb: np.ndarray) -> float:
    """Top-1 accuracy (0-100) searched source -> target: source row i is right iff its
    cosine-nearest target is i. XTREME's Tatoeba score searches the other way (English queries,
    non-English index): :func:`xstilts.core.retrieval.tatoeba_accuracy`, which equals
    ``retrieval_accuracy(english, source)`` up to ties.

    ``source_emb`` is (n, d), ``target_emb`` is (n, d) with row i the translation of source
    row i. Ties go to the lowest target index (``argmax``).
    """
    src = np.asarray(source_emb, dtype=np.float64)
    tgt = np.asarray(target_emb, dtype=np.float64)
    if src.ndim != 2 or tgt.ndim != 2:
        raise ValueError(f"embeddings must be 2-D, got shapes {src.shape} and {tgt.shape}")
    if src.shape != tgt.shape:
        raise ValueError(f"source {src.shape} and target {tgt.shape} must have the same shape")
    if src.shape[0] == 0:
        raise ValueError("no sentences to retrieve")
    nearest = np.argmax(_l2_normalize(src) @ _l2_normalize(tgt).T, axis=1)
    return 100.0 * float(np.mean(nearest == np.arange(src.shape[0])))
