"""Paired bootstrap (xstilts.core.stats) on fabricated cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from xstilts.core import stats
from xstilts.core.metrics import tagging_f1

B = 2000
ALPHA = 0.05


def _gains(system: np.ndarray, baseline: np.ndarray, kind: str = stats.MEAN, seed: int = 0,
           big_b: int = B) -> stats.Bootstrap:
    """One comparison; system / baseline are [seeds, n, c] (or [seeds, n] for MEAN)."""
    arr = np.stack([baseline, system]).astype(float)
    if arr.ndim == 3:
        arr = arr[..., None]
    k = arr.shape[1]
    seeds = stats.seed_draws(stats.derive_rng(seed, "seeds"), k, big_b)
    obs, deltas = stats.paired_gains(arr, kind, seeds, stats.derive_rng(seed, "t", "de"))
    return stats.summarize(obs[0], deltas[:, 0], ALPHA)


def test_identical_systems_are_never_significant():
    rng = np.random.default_rng(1)
    for k in (1, 3):
        x = rng.integers(0, 2, size=(k, 50))
        res = _gains(x, x.copy())
        assert res.gain == 0.0 and res.ci_low == 0.0 and res.ci_high == 0.0
        assert res.p == 1.0 and not res.significant
    counts = np.array([[[1, 1, 1], [0, 2, 1], [2, 2, 3]]])  # tagging, corpus F1
    res = _gains(counts, counts.copy(), stats.F1)
    assert res.p == 1.0 and res.gain == 0.0


def test_constant_shift_is_significant_at_the_smallest_attainable_p():
    rng = np.random.default_rng(2)
    base = rng.uniform(0, 0.8, size=(2, 40))  # e.g. per-question QA F1 in [0, 1]
    res = _gains(base + 0.1, base)  # +0.1 on every example and seed: +10 points in every resample
    assert res.gain == pytest.approx(10.0)
    assert res.ci_low == pytest.approx(10.0) and res.ci_high == pytest.approx(10.0)
    assert res.p == pytest.approx(2 / (B + 1)) and res.significant
    worse = _gains(base, base + 0.1)  # two-sided: a constant loss is just as significant
    assert worse.gain == pytest.approx(-10.0) and worse.p == pytest.approx(2 / (B + 1))


def test_known_interval_two_examples():
    """d = (0, 1): a resample's mean gain is 0, 50 or 100 with probabilities 1/4, 1/2, 1/4."""
    res = _gains(np.array([[0, 1]]), np.array([[0, 0]]), big_b=4000)
    assert res.gain == 50.0
    assert (res.ci_low, res.ci_high) == (0.0, 100.0)
    assert res.p == pytest.approx(2 * (4000 / 4 + 1) / 4001, abs=0.05)  # P(gain <= 0) = 1/4


def test_known_interval_normal_approximation():
    """Baseline always wrong, system right on half of 400: gain 50, se = 50 / sqrt(400) = 2.5."""
    system = np.array([[1, 0] * 200])
    res = _gains(system, np.zeros_like(system), big_b=4000)
    half = 1.959964 * 2.5
    assert res.gain == 50.0
    assert res.ci_low == pytest.approx(50 - half, abs=0.5)
    assert res.ci_high == pytest.approx(50 + half, abs=0.5)
    assert res.p == pytest.approx(2 / 4001)


def test_seeds_are_resampled_in_pairs():
    """Seed 0 gains +10 on every example, seed 1 loses 10: resampled seed pairs give a mean gain
    of +10, 0 or -10 (1/4, 1/2, 1/4); the observed gain is 0 and not significant."""
    base = np.full((2, 30), 0.5)
    system = base + np.array([[0.1], [-0.1]])
    res = _gains(system, base, big_b=4000)
    assert res.gain == pytest.approx(0.0, abs=1e-12)
    assert res.ci_low == pytest.approx(-10.0) and res.ci_high == pytest.approx(10.0)
    assert res.p == 1.0
    draws = stats.seed_draws(stats.derive_rng(0, "seeds"), 2, 4000)
    assert (draws.sum(1) == 2).all()
    assert np.mean(draws[:, 0] == 1) == pytest.approx(0.5, abs=0.03)


def test_corpus_f1_by_hand():
    """Sentence 1: 1 entity, found (tp 1, pred 1, gold 1); sentence 2: 1 entity, missed
    (tp 0, pred 0, gold 1). Corpus F1 = 2 * 1 / (1 + 2) = 66.7, not the mean of the
    per-sentence F1 (100 and 0: 50). Resamples: {1, 1} -> 100, {1, 2} -> 66.7, {2, 2} -> 0."""
    gold = [["B-X", "I-X", "O"], ["B-Y"]]
    pred = [["B-X", "I-X", "O"], ["O"]]
    counts = stats.entity_counts(gold, pred)
    assert counts.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert stats.score(counts, stats.F1) == pytest.approx(200 / 3)
    assert stats.score(counts, stats.F1) == pytest.approx(tagging_f1(gold, pred))
    weights = np.array([[2, 0], [1, 1], [0, 2]])
    assert stats.resampled_scores(counts, weights, stats.F1) == pytest.approx([100, 200 / 3, 0])
    w = stats.resample_weights(np.random.default_rng(0), 2, 4000)
    f1 = stats.resampled_scores(counts, w, stats.F1)
    for value, prob in ((100.0, 0.25), (200 / 3, 0.5), (0.0, 0.25)):
        assert np.mean(np.isclose(f1, value)) == pytest.approx(prob, abs=0.03)


def test_corpus_f1_on_resamples_equals_seqeval():
    rng = np.random.default_rng(3)
    tags = ["O", "O", "B-A", "I-A", "B-B", "I-B"]
    gold = [list(rng.choice(tags, size=rng.integers(1, 7))) for _ in range(12)]
    pred = [[t if rng.random() < 0.7 else str(rng.choice(tags)) for t in g] for g in gold]
    counts = stats.entity_counts(gold, pred)
    w = stats.resample_weights(rng, len(gold), 5)
    ours = stats.resampled_scores(counts, w, stats.F1)
    for row, value in zip(w, ours, strict=True):
        idx = np.repeat(np.arange(len(gold)), row)
        expected = tagging_f1([gold[i] for i in idx], [pred[i] for i in idx])
        assert value == pytest.approx(expected)


def test_resample_weights_and_rng_are_deterministic():
    a = stats.resample_weights(stats.derive_rng(7, "xnli", "de"), 5, 3)
    b = stats.resample_weights(stats.derive_rng(7, "xnli", "de"), 5, 3)
    c = stats.resample_weights(stats.derive_rng(7, "xnli", "fr"), 5, 3)
    assert (a == b).all() and not (a == c).all()
    assert a.shape == (3, 5) and (a.sum(1) == 5).all()


def test_paired_gains_chunks_match_one_pass(monkeypatch):
    rng = np.random.default_rng(4)
    arr = rng.integers(0, 2, size=(3, 2, 20, 1)).astype(float)
    seeds = stats.seed_draws(stats.derive_rng(0, "seeds"), 2, 50)
    _, one = stats.paired_gains(arr, stats.MEAN, seeds, stats.derive_rng(0, "x"))
    monkeypatch.setattr(stats, "_CHUNK_ELEMENTS", 60)  # 3 resamples per chunk
    obs, many = stats.paired_gains(arr, stats.MEAN, seeds, stats.derive_rng(0, "x"))
    assert np.allclose(one, many)
    assert obs == pytest.approx(100 * (arr[1:, :, :, 0].mean((1, 2)) - arr[0, :, :, 0].mean()))


def test_report_params_are_validated():
    import yaml

    from tests.test_report import ROOT
    from xstilts.core.params import ParamsError, parse_params

    def with_report(**report):
        raw = yaml.safe_load((ROOT / "params.yaml").read_text())
        raw["report"].update(report)
        return parse_params(yaml.safe_dump(raw))

    assert with_report(alpha=0.01, bootstrap_resamples=1000, bootstrap_seed=3).report.alpha == 0.01
    with pytest.raises(ParamsError, match="report.alpha"):
        with_report(alpha=0.7)
    with pytest.raises(ParamsError, match="smallest p-value"):
        with_report(bootstrap_resamples=20, alpha=0.05)  # 2 / 21 >= 0.05: never significant
    with pytest.raises(ParamsError, match="report.bootstrap_seed"):
        with_report(bootstrap_seed=-1)
