"""QA features and n-best post-processing with a tiny whitespace WordLevel fast tokenizer."""

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from xstilts.core.qa import postprocess_predictions, prepare_eval_features, prepare_train_features

QUESTION = "Who won the cup?"
CONTEXT = "The red team won the big cup in 1999."
LONG_QUESTION = "where is it ?"  # 4 tokens
LONG_CONTEXT = " ".join(f"a{i}" for i in range(30))  # 30 tokens: a0 ... a29
# With 3 special tokens, max_length=15 leaves 8 context tokens per window; stride 3 makes the
# windows start every 5 context tokens: a0-a7, a5-a12, a10-a17, a15-a22, a20-a27, a25-a29.
MAX_LENGTH, STRIDE = 15, 3


def _tokenizer(padding_side: str = "right") -> PreTrainedTokenizerFast:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    pre = pre_tokenizers.Whitespace()
    words = {
        w
        for text in (QUESTION, CONTEXT, LONG_QUESTION, LONG_CONTEXT)
        for w, _ in pre.pre_tokenize_str(text)
    }
    vocab = {tok: i for i, tok in enumerate(specials + sorted(words))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        unk_token="[UNK]",
        padding_side=padding_side,
    )


def _answer(context: str, text: str) -> dict:
    return {"text": [text], "answer_start": [context.index(text)]}


def _tokens(tok: PreTrainedTokenizerFast, ids: list[int]) -> list[str]:
    return tok.convert_ids_to_tokens(ids)


def test_train_features_single_window() -> None:
    tok = _tokenizer()
    feats = prepare_train_features(
        tok, ["   " + QUESTION], [CONTEXT], [_answer(CONTEXT, "red team")], 64, 8
    )
    assert set(feats) == {"input_ids", "attention_mask", "start_positions", "end_positions"}
    ids = feats["input_ids"][0]
    # [CLS] Who won the cup ? [SEP] The red team ...: leading spaces of the question are gone.
    assert _tokens(tok, ids[:8]) == ["[CLS]", "Who", "won", "the", "cup", "?", "[SEP]", "The"]
    assert (feats["start_positions"], feats["end_positions"]) == ([8], [9])
    assert _tokens(tok, ids[8:10]) == ["red", "team"]


def test_leading_question_whitespace_is_stripped() -> None:
    # A SentencePiece-style pre-tokenizer turns leading spaces into '▁' tokens: run_qa strips them.
    vocab = {t: i for i, t in enumerate(["[UNK]", "[CLS]", "[SEP]", "▁", "▁Who", "▁won?", "▁Ann"])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 1), ("[SEP]", 2)],
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend, cls_token="[CLS]", sep_token="[SEP]", unk_token="[UNK]"
    )
    feats = prepare_eval_features(tok, ["q"], ["   Who won?"], ["Ann"], 16, 2)
    assert _tokens(tok, feats["input_ids"][0]) == [
        "[CLS]",
        "▁Who",
        "▁won?",
        "[SEP]",
        "▁Ann",
        "[SEP]",
    ]


def test_train_features_left_padding_puts_context_first() -> None:
    tok = _tokenizer("left")
    feats = prepare_train_features(tok, [QUESTION], [CONTEXT], [_answer(CONTEXT, "1999")], 64, 8)
    ids = feats["input_ids"][0]
    assert _tokens(tok, ids[:3]) == ["[CLS]", "The", "red"]
    assert (feats["start_positions"], feats["end_positions"]) == ([9], [9])
    assert _tokens(tok, ids[9:10]) == ["1999"]


def test_train_features_overflow_windows() -> None:
    tok = _tokenizer()
    answers = [_answer(LONG_CONTEXT, "a20 a21")]
    feats = prepare_train_features(
        tok, [LONG_QUESTION], [LONG_CONTEXT], answers, MAX_LENGTH, STRIDE
    )
    assert [len(ids) for ids in feats["input_ids"]] == [15, 15, 15, 15, 15, 12]
    # Context starts at token 6. a20-a21 is whole only in windows 3 (a15-a22) and 4 (a20-a27).
    assert feats["start_positions"] == [0, 0, 0, 11, 6, 0]
    assert feats["end_positions"] == [0, 0, 0, 12, 7, 0]
    assert _tokens(tok, feats["input_ids"][3][11:13]) == ["a20", "a21"]
    assert _tokens(tok, feats["input_ids"][4][6:8]) == ["a20", "a21"]


def test_train_features_answer_straddling_window_end_maps_to_cls() -> None:
    tok = _tokenizer()
    answers = [_answer(LONG_CONTEXT, "a7 a8 a9")]  # a7 is window 0's last token, a8 is beyond it
    feats = prepare_train_features(
        tok, [LONG_QUESTION], [LONG_CONTEXT], answers, MAX_LENGTH, STRIDE
    )
    assert feats["start_positions"] == [0, 8, 0, 0, 0, 0]
    assert feats["end_positions"] == [0, 10, 0, 0, 0, 0]


def test_train_features_answer_on_last_context_token() -> None:
    # run_qa.py's scan runs past [SEP] here and labels index 14; the answer token is 13.
    tok = _tokenizer()
    answers = [_answer(LONG_CONTEXT, "a7")]
    feats = prepare_train_features(
        tok, [LONG_QUESTION], [LONG_CONTEXT], answers, MAX_LENGTH, STRIDE
    )
    assert feats["start_positions"] == [13, 8, 0, 0, 0, 0]
    assert feats["end_positions"] == [13, 8, 0, 0, 0, 0]
    assert _tokens(tok, feats["input_ids"][0][13:15]) == ["a7", "[SEP]"]


def test_train_features_without_answer_map_to_cls() -> None:
    feats = prepare_train_features(
        _tokenizer(), [QUESTION], [CONTEXT], [{"text": [], "answer_start": []}], 64, 8
    )
    assert (feats["start_positions"], feats["end_positions"]) == ([0], [0])


def test_empty_batches() -> None:
    tok = _tokenizer()
    assert prepare_train_features(tok, [], [], [], 15, 3)["input_ids"] == []
    assert prepare_eval_features(tok, [], [], [], 15, 3)["example_id"] == []
    assert postprocess_predictions([], [], [], [], [], []) == {}


def test_stride_too_large_for_question_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="example 0: question of 4 tokens leaves 8"):
        prepare_train_features(
            _tokenizer(), [LONG_QUESTION], [LONG_CONTEXT], [_answer(LONG_CONTEXT, "a1")], 15, 8
        )


def test_eval_features_example_ids_and_offsets() -> None:
    tok = _tokenizer()
    feats = prepare_eval_features(
        tok,
        ["short", "long"],
        [QUESTION, LONG_QUESTION],
        [CONTEXT, LONG_CONTEXT],
        MAX_LENGTH,
        STRIDE,
    )
    # The short example's 5-token question leaves 7 context tokens per window: 2 windows.
    assert feats["example_id"] == ["short"] * 2 + ["long"] * 6
    offsets = feats["offset_mapping"]
    # Only context tokens keep offsets; [CLS], question, [SEP] get None.
    assert offsets[0][:7] == [None] * 7
    assert offsets[0][-1] is None
    assert [CONTEXT[s:e] for s, e in offsets[0][7:-1]] == "The red team won the big cup".split()
    assert [CONTEXT[s:e] for s, e in offsets[1][7:-1]] == ["the", "big", "cup", "in", "1999", "."]
    assert [LONG_CONTEXT[s:e] for s, e in offsets[4][6:-1]] == [f"a{i}" for i in range(10, 18)]
    assert len(offsets[-1]) == len(feats["input_ids"][-1]) == 12


def _peaked_logits(n_tokens: int, start: int | None, end: int | None) -> tuple:
    starts, ends = np.zeros(n_tokens), np.zeros(n_tokens)
    if start is not None:
        starts[start] = ends[end] = 10.0
    return starts, ends


def test_postprocess_round_trip_from_train_labels() -> None:
    tok = _tokenizer()
    ids = ["short", "long"]
    questions, contexts = [QUESTION, LONG_QUESTION], [CONTEXT, LONG_CONTEXT]
    golds = ["red team won", "a10 a11"]
    answers = [_answer(c, g) for c, g in zip(contexts, golds, strict=True)]
    train = prepare_train_features(tok, questions, contexts, answers, MAX_LENGTH, STRIDE)
    evals = prepare_eval_features(tok, ids, questions, contexts, MAX_LENGTH, STRIDE)
    assert train["input_ids"] == evals["input_ids"]
    # Features 0-1 are the short example's, 2-7 the long one's. "a10 a11" lies in the long
    # example's windows 1 (a5-a12) and 2 (a10-a17); peak only in window 1 (feature 3), so the
    # answer must come from the example's 2nd feature. Features differ in length.
    assert train["start_positions"] == [8, 0, 0, 11, 6, 0, 0, 0]
    start_logits, end_logits = [], []
    for j, input_ids in enumerate(evals["input_ids"]):
        peak = j in (0, 3)
        s, e = train["start_positions"][j], train["end_positions"][j]
        starts, ends = _peaked_logits(len(input_ids), s if peak else None, e if peak else None)
        start_logits.append(starts)
        end_logits.append(ends)
    predictions = postprocess_predictions(
        ids, contexts, evals["example_id"], evals["offset_mapping"], start_logits, end_logits
    )
    assert predictions == {"short": "red team won", "long": "a10 a11"}


def test_postprocess_answer_with_inner_punctuation_is_exact_substring() -> None:
    context = "It was built in Paris, France ( 1889 )."
    offsets = [None, (0, 2), (3, 6), (7, 12), (13, 15), (16, 21), (21, 22), (23, 29), None]
    starts = np.array([0, 0, 0, 0, 0, 9, 0, 0, 0.0])
    ends = np.array([0, 0, 0, 0, 0, 0, 0, 9, 0.0])
    prediction = postprocess_predictions(["x"], [context], ["x"], [offsets], [starts], [ends])
    assert prediction == {"x": "Paris, France"}


def test_postprocess_constraints_on_hand_made_offsets() -> None:
    context = "abc def ghi"
    offsets = [None, (0, 3), (4, 7), (8, 11), None]
    starts = np.array([10.0, 0.0, 5.0, 1.0, 9.0])  # best start (0) is not in the context
    ends = np.array([10.0, 6.0, 0.0, 4.0, 9.0])  # end 1 < start 2 is skipped
    args = (["x"], [context], ["x"], [offsets], [starts], [ends])
    # Valid pairs: (1,1)=6 (1,2)=0 (1,3)=4 (2,2)=5 (2,3)=9 (3,3)=5 -> (2,3).
    assert postprocess_predictions(*args) == {"x": "def ghi"}
    assert postprocess_predictions(*args, max_answer_length=1) == {"x": "abc"}
    # Only the top start (index 0, outside the context) is tried: no valid span.
    assert postprocess_predictions(*args, n_best_size=1) == {"x": ""}


def test_postprocess_padded_logits_and_missing_features() -> None:
    context = "abc def"
    offsets = [None, (0, 3), (4, 7), None]
    padded = np.array([[0.0, 1.0, 0.0, 0.0, 50.0, 50.0]])  # padding positions 4-5 ignored
    padded_end = np.array([[0.0, 0.0, 1.0, 0.0, 50.0, 50.0]])
    predictions = postprocess_predictions(
        ["x", "no_features"], [context, "zzz"], ["x"], [offsets], padded, padded_end
    )
    assert predictions == {"x": "abc def", "no_features": ""}


def test_postprocess_input_errors() -> None:
    with pytest.raises(ValueError, match="unknown example id 'y'"):
        postprocess_predictions(["x"], ["c"], ["y"], [[None]], [np.zeros(1)], [np.zeros(1)])
    with pytest.raises(ValueError, match="differ in length"):
        postprocess_predictions(["x"], ["c"], ["x"], [[None]], [], [])


# --- SQuAD v2.0 no-answer (utils_qa.py version_2_with_negative) ----------------------------


def test_eval_features_record_the_cls_index() -> None:
    feats = prepare_eval_features(_tokenizer(), ["a"], [QUESTION], [CONTEXT], 64, 8)
    assert feats["cls_index"] == [0]
    assert _tokens(_tokenizer(), [feats["input_ids"][0][0]]) == ["[CLS]"]
    left = prepare_eval_features(_tokenizer("left"), ["a"], [QUESTION], [CONTEXT], 64, 8)
    assert left["cls_index"] == [0]


def test_postprocess_null_answer_beats_best_span() -> None:
    context = "abc def ghi"
    offsets = [None, (0, 3), (4, 7), (8, 11), None]
    starts = np.array([3.0, 0.0, 5.0, 1.0, 0.0])
    ends = np.array([3.0, 0.0, 0.0, 4.0, 0.0])
    args = (["x"], [context], ["x"], [offsets], [starts], [ends])
    # Best span (2,3) = 5 + 4 = 9 > null 3 + 3 = 6: the span, with or without no-answer.
    assert postprocess_predictions(*args) == {"x": "def ghi"}
    assert postprocess_predictions(*args, allow_null=True) == {"x": "def ghi"}
    # null 6 - span 9 = -3: a threshold below -3 makes it predict no answer
    assert postprocess_predictions(*args, allow_null=True,
                                   null_score_diff_threshold=-3.5) == {"x": ""}
    # Raise the CLS logits to 5 + 5 = 10 > 9: no answer, but only when allowed (v1.1 unchanged).
    starts[0] = ends[0] = 5.0
    assert postprocess_predictions(*args) == {"x": "def ghi"}
    assert postprocess_predictions(*args, allow_null=True) == {"x": ""}
    # A tie (null 9 = span 9) keeps the span: the null score must be strictly higher.
    starts[0] = ends[0] = 4.5
    assert postprocess_predictions(*args, allow_null=True) == {"x": "def ghi"}


def test_postprocess_null_score_is_the_minimum_over_features() -> None:
    # Two windows of one example; window 0 is confident there is no answer (null 20), window 1
    # holds the span (score 8) with a low null score (2): utils_qa.py keeps the MINIMUM null
    # score (2), so the span wins.
    context = "abc def"
    offsets = [[None, (0, 3), None], [None, (4, 7), None]]
    starts = [np.array([10.0, 0.0, 0.0]), np.array([1.0, 4.0, 0.0])]
    ends = [np.array([10.0, 0.0, 0.0]), np.array([1.0, 4.0, 0.0])]
    out = postprocess_predictions(["x"], [context], ["x", "x"], offsets, starts, ends,
                                  allow_null=True)
    assert out == {"x": "def"}
    # The no-answer position comes from feature_null_index (here position 2 of window 1).
    ends[1][2] = starts[1][2] = 5.0
    out = postprocess_predictions(["x"], [context], ["x", "x"], offsets, starts, ends,
                                  allow_null=True, feature_null_index=[0, 2])
    assert out == {"x": ""}  # min(20, 10) = 10 > 8
    with pytest.raises(ValueError, match="1 feature_null_index for 2 features"):
        postprocess_predictions(["x"], [context], ["x", "x"], offsets, starts, ends,
                                allow_null=True, feature_null_index=[0])


def test_no_answer_round_trip_from_train_labels() -> None:
    """An unanswerable question and windows without the answer train on CLS; logits peaked on
    the train labels predict "" for the unanswerable one and the span for the other."""
    tok = _tokenizer()
    ids, questions = ["none", "long"], [QUESTION, LONG_QUESTION]
    contexts = [CONTEXT, LONG_CONTEXT]
    answers = [{"text": [], "answer_start": []}, _answer(LONG_CONTEXT, "a10 a11")]
    train = prepare_train_features(tok, questions, contexts, answers, MAX_LENGTH, STRIDE)
    evals = prepare_eval_features(tok, ids, questions, contexts, MAX_LENGTH, STRIDE)
    assert train["start_positions"] == [0, 0, 0, 11, 6, 0, 0, 0]  # CLS except windows 1-2
    start_logits, end_logits = [], []
    for j, input_ids in enumerate(evals["input_ids"]):
        s, e = train["start_positions"][j], train["end_positions"][j]
        starts, ends = _peaked_logits(len(input_ids), s, e)
        starts[0] += 1.0  # every window gets some no-answer evidence ...
        ends[0] += 1.0
        start_logits.append(starts)
        end_logits.append(ends)
    out = postprocess_predictions(ids, contexts, evals["example_id"], evals["offset_mapping"],
                                  start_logits, end_logits, allow_null=True,
                                  feature_null_index=evals["cls_index"])
    # ... "long": min null over its windows is 2 (windows 1-2) < span 20 -> the span
    assert out == {"none": "", "long": "a10 a11"}
