"""Evaluation on bf16 weights (`evaluation.bf16_weights`, what a target stage evaluates on where
bf16 is on): the weights are cast once, no autocast runs, and the logits are those of bf16
autocast on the fp32 weights up to bf16 rounding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from datasets import Dataset

from xstilts.core import evaluation
from xstilts.core.features import featurize
from xstilts.core.modeling import TaskModel, load_encoder
from xstilts.tasks import get_task


@pytest.fixture
def model_and_rows(tiny_encoder_dir):
    torch.manual_seed(0)
    task = get_task("xcat_pair")
    encoder, tok = load_encoder(tiny_encoder_dir)
    model = TaskModel(encoder, task, "mean", 0.1)
    ds = Dataset.from_list([{"id": str(i), "text_a": f"Paris is in France {i}",
                             "text_b": "Berlin ist in Deutschland " * (1 + i % 4), "label": i % 2}
                            for i in range(40)])
    return model, featurize(task, ds, tok, 64, 0, train=False), tok.pad_token_id


def test_bf16_weights_match_autocast_and_run_without_it(model_and_rows, monkeypatch):
    model, rows, pad = model_and_rows
    cpu = torch.device("cpu")
    auto = evaluation._forward_all(model, rows, 16, pad, cpu, True, "autocast")
    cast = evaluation.bf16_weights(model, True)
    assert {p.dtype for p in cast.parameters()} == {torch.bfloat16}
    entered = []
    real = evaluation.autocast
    monkeypatch.setattr(evaluation, "autocast", lambda d, on: entered.append(on) or real(d, on))
    weights = evaluation._forward_all(cast, rows, 16, pad, cpu, True, "bf16 weights")
    assert entered and not any(entered)  # bf16 weights: autocast switched off
    assert all(w.dtype == np.float32 for w in weights)
    a, w = np.stack(auto), np.stack(weights)
    assert np.abs(a - w).max() <= 0.05 * max(1.0, np.abs(a).max())
    assert evaluation.bf16_weights(model, False) is model  # bf16 off: untouched
