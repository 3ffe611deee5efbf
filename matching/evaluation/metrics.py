"""Ranking and beyond-accuracy metrics as pure functions of ranks and counts.

Ranks start at 1 (``inf``: never ranked); every case has one relevant item (the true partner).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    """Share of cases whose true partner is ranked ``k`` or better (ranks start at 1)."""
    ranks = np.asarray(ranks, dtype=float)
    return float(np.mean(ranks <= k)) if len(ranks) else float("nan")


def reciprocal_ranks(ranks: np.ndarray) -> np.ndarray:
    """``1 / rank`` per case (0 for an infinite rank)."""
    return 1.0 / np.asarray(ranks, dtype=float)


def mean_reciprocal_rank(ranks: np.ndarray) -> float:
    """MRR: the mean of ``1 / rank``."""
    return float(np.mean(reciprocal_ranks(ranks))) if len(ranks) else float("nan")


def ndcg_gains(ranks: np.ndarray, k: int) -> np.ndarray:
    """NDCG@k per case with one relevant item: ``1 / log2(rank + 1)`` if ``rank <= k`` else 0."""
    ranks = np.asarray(ranks, dtype=float)
    out = np.zeros(len(ranks))
    hit = ranks <= k
    out[hit] = 1.0 / np.log2(ranks[hit] + 1.0)
    return out


def ndcg_at_k(ranks: np.ndarray, k: int) -> float:
    """Mean NDCG@k (one relevant item per case, so the ideal DCG is 1)."""
    return float(np.mean(ndcg_gains(ranks, k))) if len(ranks) else float("nan")


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts (0: everyone equal; (n-1)/n: one takes all)."""
    x = np.sort(np.asarray(counts, dtype=float))
    n = len(x)
    if n == 0 or x.sum() == 0:
        return 0.0
    i = np.arange(1, n + 1)
    return float(np.sum((2 * i - n - 1) * x) / (n * x.sum()))


def lorenz_curve(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lorenz curve of counts: (share of schools, share of suggestions they get), from (0, 0) to (1, 1)."""
    x = np.sort(np.asarray(counts, dtype=float))
    total = x.sum()
    share_schools = np.arange(len(x) + 1) / max(len(x), 1)
    share_counts = np.concatenate([[0.0], np.cumsum(x) / total]) if total > 0 else share_schools.copy()
    return share_schools, share_counts


def entropy_bits(labels: Sequence[object]) -> float:
    """Shannon entropy (bits) of the label distribution of one list (0 for an empty list)."""
    if len(labels) == 0:
        return 0.0
    _, counts = np.unique(np.asarray(labels, dtype=object).astype(str), return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def coverage(counts: np.ndarray) -> float:
    """Share of candidates suggested at least once."""
    counts = np.asarray(counts)
    return float(np.mean(counts > 0)) if len(counts) else float("nan")


def bootstrap_means(
    values: np.ndarray, n_bootstrap: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Means of the columns of ``values`` (n_cases, n_stats) and percentile-bootstrap intervals.

    The resamples are shared by every column (a paired bootstrap) and drawn as multinomial counts,
    so all resampled means come from one matrix product.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    n = len(values)
    mean = values.mean(axis=0) if n else np.full(values.shape[1], np.nan)
    if n == 0 or n_bootstrap <= 0:
        return mean, np.full_like(mean, np.nan), np.full_like(mean, np.nan)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_bootstrap).astype(np.float64)
    boot = weights @ values / n  # (n_bootstrap, n_stats)
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(boot, [alpha, 1 - alpha], axis=0)
    return mean, lo, hi
