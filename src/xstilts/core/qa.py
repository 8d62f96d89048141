"""SQuAD-style extractive QA: doc-stride features and n-best span post-processing.

Module-level equivalents of the closures in transformers' ``examples/pytorch/question-answering``
(``run_qa.py`` ``prepare_train_features`` / ``prepare_validation_features`` and ``utils_qa.py``
``postprocess_qa_predictions``, with its ``version_2_with_negative`` null answers as an option
for tasks that allow no answer, e.g. SQuAD v2.0). A fast tokenizer is required for offset
mappings and overflow-to-example maps.

No-answer training needs nothing special: an example without answer, and every window that does
not contain the whole answer, is labelled with the CLS index (as in ``run_qa.py``).

A long context yields several *features* (windows of at most ``max_length`` tokens, consecutive
windows sharing ``doc_stride`` context tokens); each feature records the example it came from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from transformers import PreTrainedTokenizerBase

__all__ = ["postprocess_predictions", "prepare_eval_features", "prepare_train_features"]

Offset = tuple[int, int]
# Model inputs copied from the tokenizer output; token_type_ids only exists for BERT-like models.
_INPUT_KEYS = ("input_ids", "token_type_ids", "attention_mask")


def _tokenize(
    tokenizer: PreTrainedTokenizerBase,
    questions: Sequence[str],
    contexts: Sequence[str],
    max_length: int,
    doc_stride: int,
) -> tuple[Any, int]:
    """Tokenize question/context pairs into overflowing windows; returns (encoding, context seq id).

    Leading whitespace of questions is stripped (it would eat the context's token budget). A
    tokenizer padding on the left gets (context, question) and truncates the first sequence, as
    ``run_qa.py`` does, so the context is sequence 0 there and sequence 1 otherwise.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError("QA features need a fast tokenizer (offset mappings, overflow mapping)")
    if len(questions) != len(contexts):
        raise ValueError(f"{len(questions)} questions but {len(contexts)} contexts")
    questions = [q.lstrip() for q in questions]
    # The context window left beside the longest question must exceed the stride; otherwise
    # the Rust tokenizer panics (an exception that is not an Exception) instead of raising.
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=True)
    q_lens = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    for i, q_len in enumerate(q_lens):
        if budget - q_len <= doc_stride:
            raise ValueError(
                f"example {i}: question of {q_len} tokens leaves {budget - q_len} context tokens "
                f"per window with max_length={max_length}, not more than doc_stride={doc_stride}"
            )
    pad_on_right = tokenizer.padding_side == "right"
    encoding = tokenizer(
        questions if pad_on_right else list(contexts),
        list(contexts) if pad_on_right else questions,
        truncation="only_second" if pad_on_right else "only_first",
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )
    return encoding, 1 if pad_on_right else 0


def _first_answer(answer: Mapping[str, Any]) -> tuple[int, str] | None:
    """(answer_start, text) of the first gold answer, or None when there is none.

    Accepts the SQuAD/``datasets`` layout ``{"text": [...], "answer_start": [...]}`` and a single
    ``{"text": str, "answer_start": int}``.
    """
    starts, texts = answer["answer_start"], answer["text"]
    if isinstance(texts, str):
        return int(starts), texts
    if len(starts) == 0:
        return None
    return int(starts[0]), texts[0]


def _cls_index(tokenizer: PreTrainedTokenizerBase, input_ids: Sequence[int]) -> int:
    """Position of the CLS token (else BOS, else 0): the no-answer position of a feature."""
    if tokenizer.cls_token_id is not None and tokenizer.cls_token_id in input_ids:
        return list(input_ids).index(tokenizer.cls_token_id)
    if tokenizer.bos_token_id is not None and tokenizer.bos_token_id in input_ids:
        return list(input_ids).index(tokenizer.bos_token_id)
    return 0


def prepare_train_features(
    tokenizer: PreTrainedTokenizerBase,
    questions: list[str],
    contexts: list[str],
    answers: list[dict],
    max_length: int,
    doc_stride: int,
) -> dict[str, list]:
    """Training features with start/end token labels, one row per context window.

    ``answers[i]`` holds ``text`` and character ``answer_start`` (lists; the first answer is used).
    The labels are the indices of the first and last token of the answer in the feature; a
    window that does not contain the whole answer (or an example without answer) is labelled
    with the CLS index (0 for BERT/XLM-R layouts). Returns ``input_ids``, ``attention_mask``
    (plus ``token_type_ids`` if the tokenizer makes them), ``start_positions``,
    ``end_positions``; rows are unpadded lists.
    """
    if len(answers) != len(questions):
        raise ValueError(f"{len(questions)} questions but {len(answers)} answers")
    if not questions:
        return {k: [] for k in ("input_ids", "attention_mask", "start_positions", "end_positions")}
    encoding, context_id = _tokenize(tokenizer, questions, contexts, max_length, doc_stride)
    features: dict[str, list] = {k: list(encoding[k]) for k in _INPUT_KEYS if k in encoding}
    features["start_positions"] = []
    features["end_positions"] = []

    for i, offsets in enumerate(encoding["offset_mapping"]):
        cls_index = _cls_index(tokenizer, encoding["input_ids"][i])

        answer = _first_answer(answers[encoding["overflow_to_sample_mapping"][i]])
        if answer is None:
            features["start_positions"].append(cls_index)
            features["end_positions"].append(cls_index)
            continue
        start_char, text = answer
        end_char = start_char + len(text)

        # First and last token of the context in this window.
        sequence_ids = encoding.sequence_ids(i)
        if context_id not in sequence_ids:  # empty context: nothing to point at
            features["start_positions"].append(cls_index)
            features["end_positions"].append(cls_index)
            continue
        ctx_start = sequence_ids.index(context_id)
        ctx_end = len(sequence_ids) - 1 - sequence_ids[::-1].index(context_id)

        if not (offsets[ctx_start][0] <= start_char and offsets[ctx_end][1] >= end_char):
            features["start_positions"].append(cls_index)
            features["end_positions"].append(cls_index)
            continue
        # Last context token starting at or before start_char; first ending at or after end_char.
        # Unlike run_qa.py the scans stop at the context's ends: there, an answer starting at the
        # window's last context token ran on over [SEP]/padding (offsets (0, 0)) and got the
        # label of the final token of the feature instead.
        token_start = ctx_start
        while token_start <= ctx_end and offsets[token_start][0] <= start_char:
            token_start += 1
        token_end = ctx_end
        while token_end >= ctx_start and offsets[token_end][1] >= end_char:
            token_end -= 1
        features["start_positions"].append(token_start - 1)
        features["end_positions"].append(token_end + 1)
    return features


def prepare_eval_features(
    tokenizer: PreTrainedTokenizerBase,
    ids: list[str],
    questions: list[str],
    contexts: list[str],
    max_length: int,
    doc_stride: int,
) -> dict[str, list]:
    """Evaluation features: model inputs plus ``example_id``, context-only ``offset_mapping``
    and ``cls_index``.

    ``example_id[j]`` is the id of the example feature j was cut from; ``offset_mapping[j][k]``
    is the (start, end) character span of token k in that example's context, or None when token
    k is not a context token (question, special or padding token); ``cls_index[j]`` is the
    position whose start+end logits are feature j's no-answer score.
    """
    if len(ids) != len(questions):
        raise ValueError(f"{len(ids)} ids but {len(questions)} questions")
    if not questions:
        return {k: [] for k in ("input_ids", "attention_mask", "example_id", "offset_mapping",
                                "cls_index")}
    encoding, context_id = _tokenize(tokenizer, questions, contexts, max_length, doc_stride)
    features: dict[str, list] = {k: list(encoding[k]) for k in _INPUT_KEYS if k in encoding}
    features["example_id"] = [ids[s] for s in encoding["overflow_to_sample_mapping"]]
    features["offset_mapping"] = [
        [
            (int(o[0]), int(o[1])) if seq == context_id else None
            for o, seq in zip(offsets, encoding.sequence_ids(i), strict=True)
        ]
        for i, offsets in enumerate(encoding["offset_mapping"])
    ]
    features["cls_index"] = [_cls_index(tokenizer, ids) for ids in encoding["input_ids"]]
    return features


def postprocess_predictions(
    example_ids: list[str],
    contexts: list[str],
    feature_example_ids: list[str],
    feature_offsets: list[list[tuple[int, int] | None]],
    start_logits: np.ndarray | Sequence[np.ndarray],
    end_logits: np.ndarray | Sequence[np.ndarray],
    n_best_size: int = 20,
    max_answer_length: int = 30,
    *,
    allow_null: bool = False,
    feature_null_index: Sequence[int] | None = None,
    null_score_diff_threshold: float = 0.0,
) -> dict[str, str]:
    """Turn per-token start/end logits into one answer string per example.

    Args:
        example_ids: id of each example; keys of the result, in this order.
        contexts: context of each example (same order as ``example_ids``); answers are
            substrings of it.
        feature_example_ids: for each feature, the id of its example (``example_id`` from
            :func:`prepare_eval_features`).
        feature_offsets: for each feature, one entry per token: the (start_char, end_char)
            span in the context, or None for a token outside the context.
        start_logits, end_logits: for each feature, a 1-D array of per-token logits. Features
            need not have the same length (a list of arrays); a padded 2-D array also works,
            positions past a feature's offsets are ignored.
        n_best_size: number of top start and of top end positions tried per feature.
        max_answer_length: longest answer allowed, in tokens.
        allow_null: consider the no-answer prediction ``""`` (SQuAD v2.0; off for v1.1-style
            tasks, whose behaviour is then unchanged).
        feature_null_index: per feature, the position of its no-answer score (``cls_index``
            from :func:`prepare_eval_features`); default 0 (CLS first, as ``utils_qa.py``).
        null_score_diff_threshold: predict ``""`` when null score - best span score exceeds it.

    Returns:
        ``{example_id: answer_text}``.

    For every feature of an example, each pair of a top-``n_best_size`` start index and a
    top-``n_best_size`` end index is a candidate unless either index lies outside the feature
    or has no context offset, the end precedes the start, or the span is longer than
    ``max_answer_length`` tokens. The candidate with the highest ``start_logit + end_logit``
    across all the example's features wins (earlier features and higher-ranked starts win ties)
    and its text is ``context[offsets[start][0]:offsets[end][1]]``. An example with no valid
    candidate (or no feature) gets ``""``; ``utils_qa.py`` returns the string ``"empty"`` there.
    Without ``allow_null`` no null answer is considered (SQuAD v1.1 / XQuAD / MLQA setting).
    With it (``utils_qa.py`` with ``version_2_with_negative``): the example's null score is the
    *minimum* over its features of ``start_logit[cls] + end_logit[cls]``; candidates with empty
    text are skipped; the prediction is ``""`` when ``null_score - best_span_score >
    null_score_diff_threshold`` (default 0: the null score must strictly beat the best span) or
    when there is no candidate span.
    """
    n_features = len(feature_example_ids)
    if not (len(feature_offsets) == len(start_logits) == len(end_logits) == n_features):
        raise ValueError(
            f"per-feature inputs differ in length: {n_features} feature_example_ids, "
            f"{len(feature_offsets)} feature_offsets, {len(start_logits)} start_logits, "
            f"{len(end_logits)} end_logits"
        )
    if len(example_ids) != len(contexts):
        raise ValueError(f"{len(example_ids)} example_ids but {len(contexts)} contexts")
    if len(set(example_ids)) != len(example_ids):
        raise ValueError("example_ids contains duplicates")
    if feature_null_index is not None and len(feature_null_index) != n_features:
        raise ValueError(f"{len(feature_null_index)} feature_null_index for {n_features} features")
    known = set(example_ids)
    features_per_example: dict[str, list[int]] = defaultdict(list)
    for j, ex_id in enumerate(feature_example_ids):
        if ex_id not in known:
            raise ValueError(f"feature {j} belongs to unknown example id {ex_id!r}")
        features_per_example[ex_id].append(j)

    predictions: dict[str, str] = {}
    for ex_id, context in zip(example_ids, contexts, strict=True):
        best_score = -np.inf
        best_span: tuple[int, int] | None = None
        null_score = np.inf
        for j in features_per_example[ex_id]:
            offsets = feature_offsets[j]
            starts = np.asarray(start_logits[j], dtype=np.float64).reshape(-1)
            ends = np.asarray(end_logits[j], dtype=np.float64).reshape(-1)
            if allow_null:
                k = 0 if feature_null_index is None else int(feature_null_index[j])
                null_score = min(null_score, starts[k] + ends[k])
            # Top-n indices, best first; a stable sort makes ties go to the lower index.
            top_starts = np.argsort(-starts, kind="stable")[:n_best_size].tolist()
            top_ends = np.argsort(-ends, kind="stable")[:n_best_size].tolist()
            for s in top_starts:
                if s >= len(offsets) or offsets[s] is None:
                    continue
                for e in top_ends:
                    if e >= len(offsets) or offsets[e] is None:
                        continue
                    if e < s or e - s + 1 > max_answer_length:
                        continue
                    if allow_null and offsets[s][0] >= offsets[e][1]:
                        continue  # empty text: utils_qa.py skips it as a non-null answer
                    score = starts[s] + ends[e]
                    if score > best_score:
                        best_score = score
                        best_span = (int(offsets[s][0]), int(offsets[e][1]))
        if best_span is None or (
            allow_null and null_score - best_score > null_score_diff_threshold
        ):
            predictions[ex_id] = ""
        else:
            predictions[ex_id] = context[best_span[0] : best_span[1]]
    return predictions
