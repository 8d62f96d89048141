"""xstilts.core.dropout: the cheaper CPU dropout mask has nn.Dropout's distribution and gradient."""

import math

import pytest
import torch
from torch import nn

from xstilts.core import train
from xstilts.core.dropout import FastDropout, _drop_mask, dropout, use_fast_dropout
from xstilts.core.params import RuntimeParams


def test_random_bits_are_uniform():
    """All 64 bits of each draw are used: every bit of the int32 halves is 1 half the time
    (a range that left the sign bit at 0 would bias the mask towards dropping)."""
    torch.manual_seed(0)
    n = 200_000
    bits = torch.empty((n,), dtype=torch.int64).random_(-(2**63), None).view(torch.int32)
    ones = ((bits.view(-1, 1) >> torch.arange(32, dtype=torch.int32)) & 1).double().mean(0)
    sd = math.sqrt(0.25 / (2 * n))
    assert ((ones - 0.5).abs() < 5 * sd).all(), ones


@pytest.mark.parametrize("p", [0.01, 0.1, 0.5, 0.9])
def test_drop_rate_and_scale(p):
    torch.manual_seed(1)
    n = 1_000_000
    mask, scale = _drop_mask(torch.Size([1000, 1000]), p, torch.device("cpu"))
    rate = mask.double().mean().item()
    assert abs(rate - p) < 5 * math.sqrt(p * (1 - p) / n)
    assert scale == pytest.approx(1 / (1 - p), rel=1e-9)


def test_output_values_gradient_and_expectation():
    torch.manual_seed(2)
    x = torch.randn(400, 300, dtype=torch.float64, requires_grad=True)
    y = dropout(x, 0.25)
    kept = y != 0
    assert torch.allclose(y[kept], x[kept] * (1 / 0.75))
    assert abs((~kept).double().mean().item() - 0.25) < 0.01
    y.sum().backward()  # d y / d x = mask * scale
    assert torch.equal(x.grad != 0, kept)
    assert torch.allclose(x.grad[kept], torch.full_like(x.grad[kept], 1 / 0.75))
    # the expectation of every element is the input (mean over many masks of a constant)
    ones = torch.ones(2000, 500)
    assert dropout(ones, 0.1).mean().item() == pytest.approx(1.0, abs=3e-3)


def test_bf16_scale_is_not_rounded_to_bf16():
    """Kept bf16 elements are x * 1/(1-p) computed in fp32, then rounded once (a bf16 scale,
    1.109375 for p = 0.1, would shrink the expectation by 0.16 %)."""
    torch.manual_seed(3)
    x = torch.ones(100_000, dtype=torch.bfloat16)
    y = dropout(x, 0.1)
    assert set(y.unique().tolist()) == {0.0, torch.tensor(1 / 0.9).bfloat16().item()}


def test_deterministic_under_manual_seed_and_identity_in_eval():
    x = torch.randn(64, 64)
    torch.manual_seed(5)
    a = dropout(x, 0.3)
    torch.manual_seed(5)
    b = dropout(x, 0.3)
    assert torch.equal(a, b)
    assert not torch.equal(a, dropout(x, 0.3))  # the stream moves on
    assert dropout(x, 0.3, training=False) is x
    assert dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    m = FastDropout(0.3).eval()
    assert m(x) is x


def test_use_fast_dropout_swaps_modules_in_place():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.2),
                          nn.Sequential(nn.Dropout(0.1), nn.ReLU()))
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert use_fast_dropout(model) == 2
    assert isinstance(model[1], FastDropout) and model[1].p == 0.2
    assert isinstance(model[2][0], FastDropout) and model[2][0].p == 0.1
    assert not model[1].training  # keeps the module's mode
    assert use_fast_dropout(model) == 0  # idempotent
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("fast", [True, False])
def test_training_uses_fast_dropout_unless_switched_off(tiny_encoder_dir, fast):
    """`runtime.fast_dropout` decides which dropout modules a training run uses; both train."""
    from datasets import Dataset

    from xstilts.core.modeling import TaskModel, load_encoder
    from xstilts.core.params import TrainHParams
    from xstilts.tasks import get_task

    task = get_task("xcat_pair")
    data = task.embedded(seed=0)
    train_ds = Dataset.from_list(data[("en", "train")][:16], features=task.schema)
    dev_ds = Dataset.from_list(data[("en", "dev")][:8], features=task.schema)
    device, bf16 = train.setup_runtime(RuntimeParams(device="cpu", threads=1, bf16=False,
                                                     feature_cache=None, fast_dropout=fast))
    encoder, tok = load_encoder(tiny_encoder_dir)
    torch.manual_seed(0)
    model = TaskModel(encoder, task, "mean", 0.1)
    hp = TrainHParams(lr=1e-3, batch_size=8, epochs=1, max_length=32, warmup_ratio=0.0)
    res = train.train_task(model, tok, train_ds, dev_ds, hp, seed=0, device=device, bf16=bf16)
    assert res.steps == 2 and math.isfinite(res.best_score)
    kinds = {type(m) for m in model.modules() if isinstance(m, nn.Dropout)}
    assert kinds == ({FastDropout} if fast else {nn.Dropout})
