"""Decoder-only LMs as base models (study 3): tiny random Llama and GPT-2 decoders saved as
folders with a byte-level BPE tokenizer that has no pad token. Every head type trains; the
`last` pooling picks the last real token under right padding; the base-model preparation sets
pad = eos, pads right, separates the texts of a pair and skips the (Unigram-only) vocabulary
trim; a save/load round trip through safetensors gives identical logits."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch
from datasets import Dataset

from xstilts.core.features import collate, featurize
from xstilts.core.modeling import TaskModel, load_encoder, load_task_model, pool
from xstilts.core.params import TrainHParams
from xstilts.tasks import get_task

CORPUS = ["the capital of Germany is Berlin", "Spain France Russia Turkey China Kenya",
          "euro dollar rouble lira yuan shilling", "Monday Tuesday January February",
          "English German Spanish Russian Turkish Chinese Arabic Swahili",
          "Deutschland Spanien Frankreich Russland", "which country uses the currency"]


def bpe_tokenizer(kind: str):
    """A byte-level BPE tokenizer (GPT-2 style; `llama` adds <s> in front) without pad token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>"] if kind == "gpt2" else ["<s>", "</s>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS * 5, trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if kind == "gpt2":
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")
        # as Qwen2: no bos, no cls (QA's no-answer position falls back to 0)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   padding_side="left")  # as some hub decoders: left


def make_decoder(out: Path, kind: str = "llama") -> Path:
    """A 2-layer, 32-wide random decoder (LlamaModel / GPT2Model) + tokenizer in `out`."""
    from transformers import GPT2Config, GPT2Model, LlamaConfig, LlamaModel

    tokenizer = bpe_tokenizer(kind)
    torch.manual_seed(0)
    if kind == "llama":
        cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                          num_attention_heads=2, num_key_value_heads=2, intermediate_size=64,
                          max_position_embeddings=256, bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id, pad_token_id=None)
        model = LlamaModel(cfg)
    else:
        cfg = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=2,
                         n_positions=256, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
        model = GPT2Model(cfg)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(autouse=True, scope="module")
def _memory_feature_cache():
    """Features cached in memory only (no disk folder left configured by another test)."""
    from xstilts.core import feature_cache

    before = feature_cache.folder()
    feature_cache.configure(None)
    yield
    feature_cache.configure(before)


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def decoder_base(request, tmp_path_factory):
    """The decoder as the scaling_model stage prepares it (hub source, family decoder)."""
    from xstilts.core import base_model

    raw = make_decoder(tmp_path_factory.mktemp(f"raw-{request.param}"), request.param)
    out = tmp_path_factory.mktemp(f"base-{request.param}") / "base"
    base_model.load_hub_model(str(raw), out, decoder=True)
    return request.param, out


@functools.cache
def _embedded(task_name: str) -> dict:
    return get_task(task_name).embedded(seed=0)


def _split(task_name: str, split: str, n: int, lang: str = "en") -> Dataset:
    records = _embedded(task_name)[(lang, split)][:n]
    return Dataset.from_list(records, features=get_task(task_name).schema)


def test_prepared_decoder_pads_with_eos_on_the_right(decoder_base):
    kind, base = decoder_base
    encoder, tokenizer = load_encoder(base)
    assert tokenizer.pad_token == tokenizer.eos_token and tokenizer.pad_token_id is not None
    assert tokenizer.padding_side == "right"
    assert type(encoder).__name__ == {"llama": "LlamaModel", "gpt2": "GPT2Model"}[kind]
    assert encoder.config.pad_token_id == tokenizer.pad_token_id


def test_pairs_are_separated(decoder_base):
    """GPT-2 style tokenizers glue a pair ("AB"); the prepared base puts eos between (Llama's
    template already separates with <s>); single texts are unchanged."""
    kind, base = decoder_base
    _, tok = load_encoder(base)
    a = tok("the capital of Germany")["input_ids"]
    b = tok("Berlin", add_special_tokens=False)["input_ids"]
    sep = tok.eos_token_id if kind == "gpt2" else tok.bos_token_id
    assert tok("the capital of Germany", "Berlin")["input_ids"] == a + [sep] + b
    if kind == "gpt2":
        assert a == tok("the capital of Germany", add_special_tokens=False)["input_ids"]
        cfg = json.loads((base / "tokenizer_config.json").read_text(encoding="utf-8"))
        assert cfg["tokenizer_class"] == "TokenizersBackend" and "local_files_only" not in cfg


def test_truncate_layers_of_a_decoder(tmp_path):
    from transformers import AutoModel

    from xstilts.core import base_model

    for kind in ("llama", "gpt2"):
        raw = make_decoder(tmp_path / f"raw-{kind}", kind)
        base_model.load_hub_model(str(raw), tmp_path / kind, num_layers=1, decoder=True)
        m = AutoModel.from_pretrained(tmp_path / kind)
        assert m.config.num_hidden_layers == 1


def test_last_pooling_picks_the_last_real_token_under_right_padding():
    hidden = torch.arange(2 * 5 * 3, dtype=torch.float).view(2, 5, 3)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    out = pool(hidden, mask, "last")
    assert torch.equal(out[0], hidden[0, 2]) and torch.equal(out[1], hidden[1, 4])
    # with a real decoder: padding a row changes neither its pooled state nor its logits
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(0)
    enc = LlamaModel(LlamaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=2,
                                 intermediate_size=32)).eval()
    ids = [[5, 6, 7], [8, 9, 10, 11, 12]]
    batch = collate([{"input_ids": x} for x in ids], pad_id=0)
    with torch.no_grad():
        h = enc(**batch).last_hidden_state
        alone = enc(input_ids=torch.tensor([ids[0]])).last_hidden_state
    pooled = pool(h, batch["attention_mask"], "last")
    assert torch.allclose(pooled[0], alone[0, -1], atol=1e-5)
    assert not torch.allclose(pooled[0], h[0, -1], atol=1e-3)  # not the padded end


@pytest.mark.parametrize("task_name,pooling", [
    ("cldr_region", "last"), ("xcat_pair", "mean"), ("xcat_choice", "last"),
    ("xcat_qa", "last"), ("xcat_tag", "last")])
def test_every_head_type_trains_and_round_trips(decoder_base, task_name, pooling, tmp_path):
    """A few optimiser steps and a dev evaluation per head type; saved and reloaded, the model
    gives identical logits."""
    from xstilts.core.train import train_task

    kind, base = decoder_base
    task = get_task(task_name)
    encoder, tokenizer = load_encoder(base)
    torch.manual_seed(0)
    model = TaskModel(encoder, task, pooling, dropout=0.0)
    hp = TrainHParams(lr=1e-3, batch_size=4, epochs=1, max_length=96, doc_stride=32,
                      warmup_ratio=0.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = train_task(model, tokenizer, _split(task_name, "train", 12),
                     _split(task_name, "dev", 4), hp, seed=0, device=torch.device("cpu"),
                     bf16=False, eval_batch_size=8)
    assert res.steps == 3 and res.best_score == res.best_score  # finite, not NaN
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("head.") for k in changed)
    assert any(k.startswith("encoder.") for k in changed)
    model.eval().save(tmp_path / "ckpt", tokenizer, {"best_dev": res.best_score})
    assert (tmp_path / "ckpt" / "encoder" / "model.safetensors").is_file()
    loaded, tok2 = load_task_model(tmp_path / "ckpt", task)
    loaded.eval()
    assert loaded.pooling == pooling and tok2.pad_token_id == tokenizer.pad_token_id
    rows = featurize(task, _split(task_name, "dev", 4), tokenizer, 96, 32, train=False)
    if task_name == "xcat_qa":  # no CLS token: the no-answer position is bos (llama) or 0
        assert tokenizer.cls_token_id is None
        assert {r["cls_index"] for r in rows} == {0}
    batch = collate(rows, tokenizer.pad_token_id)
    batch = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")}
    with torch.no_grad():
        assert torch.equal(model(batch), loaded(batch))
