"""The soft score: weighted block similarities plus pair terms, as one matrix product.

score(a, c) = sum_b w_b * cos_b(a, c)                      (country, phase, themes, skills)
            + w_comp * (want_a . offer_c + offer_a . want_c) / 12   (reciprocal complementarity)
            + w_ready * readiness_c                                  (ISA status, CPD badge)
            + w_tz * overlap_hours(a, c) / school_day_hours          (live lessons)

The first three lines are ``index.matrix @ query_vector``: the weights sit on the query side,
so changing them never touches the index. Each component's contribution is exact and the
contributions add up to the score.
"""

from __future__ import annotations

import numpy as np

from features import vocab
from matching.config import COMPONENTS, RankerConfig
from matching.constraints import wrapped_hours
from matching.index import SchoolIndex

_K = len(vocab.SKILLS)


def overlap_hours(tz_a: np.ndarray | float, tz_b: np.ndarray | float, school_day_hours: float) -> np.ndarray:
    """Hours both school days (same local start time) are in session at once."""
    return np.maximum(np.float32(school_day_hours) - wrapped_hours(np.subtract(tz_a, tz_b)), 0.0).astype(np.float32)


class Scorer:
    """Turns candidate-side rows and a configuration into scores and exact contributions."""

    def __init__(self, index: SchoolIndex, config: RankerConfig) -> None:
        self.index = index
        self.config = config
        self.weights = config.weights.as_dict()
        d = index.n_features
        self.pair_slices = {
            "offer": slice(d, d + _K),
            "want": slice(d + _K, d + 2 * _K),
            "readiness": slice(d + 2 * _K, d + 2 * _K + 1),
        }
        self.component_slices: dict[str, slice] = {
            **index.blocks,
            "complementarity": slice(d, d + 2 * _K),
            "readiness": self.pair_slices["readiness"],
        }

    def query_vectors(self, rows_matrix: np.ndarray) -> np.ndarray:
        """Query-side vectors (m, D) from candidate-side rows (m, D): weighted, want/offer swapped."""
        rows_matrix = np.atleast_2d(rows_matrix)
        q = np.zeros_like(rows_matrix, dtype=np.float32)
        for name, s in self.index.blocks.items():
            q[:, s] = rows_matrix[:, s] * self.weights[name]
        w = self.weights["complementarity"] / (2 * _K)
        q[:, self.pair_slices["offer"]] = rows_matrix[:, self.pair_slices["want"]] * w
        q[:, self.pair_slices["want"]] = rows_matrix[:, self.pair_slices["offer"]] * w
        q[:, self.pair_slices["readiness"]] = self.weights["readiness"]
        return q

    def timezone_term(self, tz_query: np.ndarray, tz_cands: np.ndarray) -> np.ndarray:
        """Weighted school-day overlap, ``(m, n)``."""
        hours = overlap_hours(
            np.asarray(tz_query)[:, None], np.asarray(tz_cands)[None, :], self.config.school_day_hours
        )
        return hours * np.float32(self.weights["timezone_overlap"] / self.config.school_day_hours)

    def scores(self, q: np.ndarray, tz_query: np.ndarray, candidates: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Scores ``(m, n)`` of queries ``q`` (from ``query_vectors``) against candidate rows."""
        matrix = self.index.matrix[: self.index.n_rows][candidates]
        tz = self.index.cols().tz_offset[candidates]
        return np.atleast_2d(q) @ matrix.T + self.timezone_term(np.atleast_1d(tz_query), tz)

    def contributions(self, q: np.ndarray, tz_query: float, rows: np.ndarray) -> np.ndarray:
        """Exact per-component contributions ``(len(rows), len(COMPONENTS))`` for one query."""
        matrix = self.index.matrix[rows]
        out = np.zeros((len(rows), len(COMPONENTS)), dtype=np.float32)
        for j, name in enumerate(COMPONENTS):
            if name == "timezone_overlap":
                out[:, j] = self.timezone_term(np.array([tz_query]), self.index.cols().tz_offset[rows])[0]
            else:
                s = self.component_slices[name]
                out[:, j] = matrix[:, s] @ q[s]
        return out
