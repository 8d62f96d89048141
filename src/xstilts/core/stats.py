"""Paired bootstrap over evaluation examples and seeds: gain, percentile interval, p-value.

Setting. For one target task and one language, every intermediate task (a *system*; the
baseline `none` is system 0) has per-example statistics on the same test examples (aligned by
id), as an array ``[systems, seeds, examples, c]``:

* mean-type metrics (``MEAN``; accuracy 0/1, QA EM or F1 in [0, 1]), c = 1: the score is
  ``100 * mean``;
* corpus F1 (``F1``; tagging), c = 3 per sentence: true-positive, predicted and gold entity
  counts (:func:`entity_counts`). The score of any multiset of sentences is
  ``200 * sum(tp) / (sum(pred) + sum(gold))`` (0 without a true positive): seqeval's micro F1 of
  those sentences, recomputed on every resample, never an average of per-sentence F1.

One resample ``b`` draws

1. **seeds**: ``k`` seed indices with replacement (:func:`seed_draws`). A seed index is a
   *pair*: system seed ``s`` and baseline seed ``s`` (target seed ``s`` starts from intermediate
   seed ``s``; the head initialisation and data order of seed ``s`` are the same for every
   intermediate task). One draw per resample is shared by every target and language, since
   seed ``s`` is the same intermediate checkpoint for all of them;
2. **examples**: ``n`` examples with replacement (:func:`resample_weights`), independently per
   (target, language) and the same for every system, the baseline and every seed.

The gain of resample ``b`` is each drawn seed's score difference (system minus baseline, both on
the resampled examples), averaged over the drawn seeds, then over languages (a table cell) and
over targets (the average column). The observed gain is the same on the original data (every
seed, every example once). With a single seed, step 1 changes nothing.

Summary (:func:`summarize`): the ``100 (1 - alpha)`` % percentile interval of the resampled
gains, and the two-sided p-value ``min(1, 2 min(#{g_b <= 0} + 1, #{g_b >= 0} + 1) / (B + 1))``,
the percentile-interval inversion (``p < alpha`` exactly when the interval excludes 0, up to the
``+1`` correction). Identical systems give ``g_b = 0`` for every ``b``, hence ``p = 1``; a gain
of the same sign in every resample gives the smallest attainable ``p = 2 / (B + 1)``.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

MEAN = "mean"  # score = 100 * mean of per-example values
F1 = "f1"  # score = corpus F1 from summed (tp, predicted, gold) entity counts
KINDS = (MEAN, F1)
_CHUNK_ELEMENTS = 4_000_000  # resample weights held in memory at once (resamples x examples)


def derive_rng(seed: int, *names: str) -> np.random.Generator:
    """An independent generator per (seed, names), stable across runs and configurations."""
    words = [seed] + [zlib.crc32(name.encode("utf-8")) for name in names]
    return np.random.default_rng(np.random.SeedSequence(words))


def entity_counts(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> np.ndarray:
    """[n, 3] int array: per sentence (true positives, predicted, gold) entities, as seqeval.

    Entities are seqeval's default-mode ``get_entities`` (type, start, end); a predicted entity
    is a true positive when the gold sentence has the same one. Summing rows and applying
    :func:`score` gives seqeval's micro F1 of the same sentences.
    """
    from seqeval.metrics.sequence_labeling import get_entities

    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted sentences")
    out = np.zeros((len(gold), 3), dtype=np.int64)
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted tags")
        g_ents, p_ents = set(get_entities(list(g))), set(get_entities(list(p)))
        out[i] = (len(g_ents & p_ents), len(p_ents), len(g_ents))
    return out


def score_from_sums(sums: np.ndarray, n: float | np.ndarray, kind: str) -> np.ndarray:
    """Scores (0-100) from statistics summed over examples (last axis = c)."""
    sums = np.asarray(sums, dtype=np.float64)
    if kind == MEAN:
        return 100.0 * sums[..., 0] / n
    if kind == F1:
        tp, denom = sums[..., 0], sums[..., 1] + sums[..., 2]
        return np.where(tp > 0, 200.0 * tp / np.where(denom > 0, denom, 1.0), 0.0)
    raise ValueError(f"unknown metric kind {kind!r}; expected one of {KINDS}")


def score(stats: np.ndarray, kind: str) -> float:
    """The score (0-100) of per-example statistics ``[n, c]``."""
    stats = np.asarray(stats, dtype=np.float64)
    return float(score_from_sums(stats.sum(0), len(stats), kind))


def resample_weights(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """[size, n] multiplicities of a resample of n examples with replacement (rows sum to n)."""
    idx = rng.integers(0, n, size=(size, n)) + n * np.arange(size)[:, None]
    return np.bincount(idx.ravel(), minlength=size * n).reshape(size, n)


def seed_draws(rng: np.random.Generator, k: int, size: int) -> np.ndarray:
    """[size, k] multiplicities of k seed indices drawn with replacement (rows sum to k)."""
    return resample_weights(rng, k, size)


def resampled_scores(stats: np.ndarray, weights: np.ndarray, kind: str) -> np.ndarray:
    """Scores of ``stats`` ``[..., n, c]`` on each resample ``weights`` ``[B, n]``: ``[B, ...]``."""
    stats = np.asarray(stats, dtype=np.float64)
    lead, (n, c) = stats.shape[:-2], stats.shape[-2:]
    flat = np.moveaxis(stats, -2, 0).reshape(n, -1)  # [n, prod(lead) * c]
    sums = (np.asarray(weights, dtype=np.float64) @ flat).reshape(-1, *lead, c)
    return score_from_sums(sums, n, kind)


def paired_gains(stats: np.ndarray, kind: str, seed_counts: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Gains of systems 1.. over system 0 on one language: (observed ``[m-1]``, ``[B, m-1]``).

    ``stats`` is ``[m systems, k seeds, n examples, c]`` (system 0 = the baseline);
    ``seed_counts`` ``[B, k]`` the seed multiplicities of each resample (:func:`seed_draws`);
    ``rng`` draws the example resamples (the same for every system and seed).
    """
    stats = np.asarray(stats, dtype=np.float64)
    if stats.ndim != 4 or stats.shape[0] < 2:
        raise ValueError(f"stats must be [systems >= 2, seeds, examples, c], got {stats.shape}")
    m, k, n, _ = stats.shape
    seed_counts = np.asarray(seed_counts, dtype=np.float64)
    if seed_counts.ndim != 2 or seed_counts.shape[1] != k:
        raise ValueError(f"seed_counts must be [B, {k}], got {seed_counts.shape}")
    if n == 0:
        raise ValueError("no examples to resample")
    full = score_from_sums(stats.sum(2), n, kind)  # [m, k]
    observed = (full[1:] - full[0]).mean(-1)
    big_b = seed_counts.shape[0]
    deltas = np.empty((big_b, m - 1))
    chunk = max(1, _CHUNK_ELEMENTS // n)
    for lo in range(0, big_b, chunk):
        hi = min(big_b, lo + chunk)
        s = resampled_scores(stats, resample_weights(rng, n, hi - lo), kind)  # [b, m, k]
        gain = s[:, 1:, :] - s[:, :1, :]  # [b, m-1, k]
        deltas[lo:hi] = (gain * seed_counts[lo:hi, None, :]).sum(-1) / k
    return observed, deltas


@dataclass(frozen=True)
class Bootstrap:
    """One comparison: observed gain, percentile interval, two-sided p-value."""

    gain: float
    ci_low: float
    ci_high: float
    p: float
    alpha: float
    n_resamples: int

    @property
    def significant(self) -> bool:
        return self.p < self.alpha

    def as_dict(self) -> dict:
        return asdict(self) | {"significant": self.significant}


def p_value(deltas: np.ndarray) -> float:
    """Two-sided bootstrap p-value of 'gain = 0' from resampled gains (see the module doc)."""
    deltas = np.asarray(deltas, dtype=np.float64)
    big_b = deltas.size
    le, ge = int(np.sum(deltas <= 0)), int(np.sum(deltas >= 0))
    return min(1.0, 2.0 * (min(le, ge) + 1) / (big_b + 1))


def summarize(observed: float, deltas: np.ndarray, alpha: float) -> Bootstrap:
    """Observed gain, its ``100 (1 - alpha)`` % percentile interval and p-value."""
    deltas = np.asarray(deltas, dtype=np.float64)
    if deltas.ndim != 1 or deltas.size == 0:
        raise ValueError(f"deltas must be a non-empty 1-D array, got shape {deltas.shape}")
    lo, hi = np.quantile(deltas, [alpha / 2, 1 - alpha / 2])
    return Bootstrap(gain=float(observed), ci_low=float(lo), ci_high=float(hi),
                     p=p_value(deltas), alpha=alpha, n_resamples=int(deltas.size))
