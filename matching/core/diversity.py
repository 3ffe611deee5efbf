"""Diversity re-ranking: keep the top k from coming all from one country (country cap or MMR)."""

from __future__ import annotations

import numpy as np

from matching.core.config import Diversity
from matching.core.index import SchoolIndex
from matching.errors import ConfigError

METHODS: tuple[str, ...] = ("none", "country_cap", "mmr")


def resolve(default: Diversity, diversity: Diversity | str | None) -> Diversity:
    """The diversity settings of a request: ``default`` (None), a method name applied to it, or given settings."""
    if diversity is None:
        return default
    if isinstance(diversity, Diversity):
        return diversity
    if diversity in METHODS:
        return default.model_copy(update={"method": diversity})
    raise ConfigError(f"diversity: {diversity!r} is not one of {', '.join(METHODS)}")


def pool_size(k: int, div: Diversity) -> int:
    """How many of the best candidates the re-ranking picks from."""
    return k if div.method == "none" else k * div.pool


def diversify(index: SchoolIndex, rows: np.ndarray, scores: np.ndarray, k: int, div: Diversity) -> np.ndarray:
    """Positions (into ``rows``, sorted best first with their ``scores``) of the k chosen candidates."""
    if div.method == "none" or len(rows) <= 1:
        return np.arange(min(k, len(rows)))
    if div.method == "country_cap":
        return _country_cap(index.cols().country[rows], scores, k, div.max_per_country)
    return _mmr(index, rows, scores, k, div.mmr_lambda)


def _country_cap(countries: np.ndarray, scores: np.ndarray, k: int, cap: int) -> np.ndarray:
    counts: dict[str, int] = {}
    chosen, spill = [], []
    for pos, country in enumerate(countries):
        if counts.get(country, 0) < cap:
            counts[country] = counts.get(country, 0) + 1
            chosen.append(pos)
            if len(chosen) == k:
                break
        else:
            spill.append(pos)
    chosen += spill[: k - len(chosen)]  # fewer countries than needed: fill by score
    return np.array(sorted(chosen, key=lambda p: (-scores[p], p)), dtype=np.int64)


def _mmr(index: SchoolIndex, rows: np.ndarray, scores: np.ndarray, k: int, mmr_lambda: float) -> np.ndarray:
    """Maximal marginal relevance on country-block similarity."""
    country = index.X[rows][:, index.blocks["country"]]
    sim = country @ country.T
    chosen_list = [0]
    best_sim = sim[0].copy()
    candidates = np.ones(len(rows), dtype=bool)
    candidates[0] = False
    while len(chosen_list) < min(k, len(rows)):
        value = mmr_lambda * scores - (1 - mmr_lambda) * best_sim
        value[~candidates] = -np.inf
        nxt = int(np.argmax(value))
        chosen_list.append(nxt)
        candidates[nxt] = False
        best_sim = np.maximum(best_sim, sim[nxt])
    return np.array(chosen_list, dtype=np.int64)
