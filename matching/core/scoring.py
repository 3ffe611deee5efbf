"""The soft score: weighted block similarities plus pair terms, as one matrix product.

score(a, c) = sum_b w_b * cos_b(a, c)                      (country, phase, themes, skills)
            + w_comp * (want_a . offer_c + offer_a . want_c) / 12   (reciprocal complementarity)
            + w_ready * readiness_c                                  (ISA status, CPD badge)
            + w_tz * overlap_hours(a, c) / school_day_hours          (live lessons, mean over the terms)

The first three lines are ``index.matrix @ query_vector``: the weights sit on the query side,
so changing them never touches the index. Each component's contribution is exact and the
contributions add up to the score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from features import vocab
from matching.core.coarse import segment_id
from matching.core.columns import N_TERMS, PHASE_CODE, wrapped_hours
from matching.core.config import COMPONENTS, RankerConfig
from matching.core.index import SchoolIndex

_K = len(vocab.SKILLS)


def term_overlap_hours(tz_a: np.ndarray, tz_b: np.ndarray, school_day_hours: float) -> np.ndarray:
    """Hours both school days (same local start time) are in session at once, in each term: offsets with a
    last axis of terms (``columns.tz_offset`` rows, broadcasting) give ``(..., N_TERMS)``."""
    return np.maximum(np.float32(school_day_hours) - wrapped_hours(np.subtract(tz_a, tz_b)), 0.0).astype(np.float32)


def overlap_hours(tz_a: np.ndarray, tz_b: np.ndarray, school_day_hours: float) -> np.ndarray:
    """``term_overlap_hours`` averaged over the terms (the last axis): what the score counts."""
    return term_overlap_hours(tz_a, tz_b, school_day_hours).mean(axis=-1, dtype=np.float32)


def as_term_offsets(tz: np.ndarray | float) -> np.ndarray:
    """Query offsets as rows of terms, ``(m, N_TERMS)``: a 2-D array as it is, a 1-D row of ``N_TERMS`` offsets
    as one query, a single offset as one query with that offset in every term."""
    tz = np.asarray(tz, dtype=np.float32)
    if tz.ndim == 2 and tz.shape[1] == N_TERMS:
        return tz
    if tz.ndim == 1 and len(tz) == N_TERMS:
        return tz.reshape(1, N_TERMS)
    if tz.size == 1:
        return np.full((1, N_TERMS), tz.reshape(-1)[0], dtype=np.float32)
    raise ValueError(f"time-zone offsets of shape {tz.shape}: expected (m, {N_TERMS}), one offset per term")


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
        """Weighted school-day overlap (mean over the terms), ``(m, n)``, of query offsets ``(m, N_TERMS)``
        against candidate offsets ``(n, N_TERMS)``."""
        tz_query, tz_cands = as_term_offsets(tz_query), np.asarray(tz_cands, dtype=np.float32)
        hours = overlap_hours(tz_query[:, None, :], tz_cands[None, :, :], self.config.school_day_hours)
        return hours * np.float32(self.weights["timezone_overlap"] / self.config.school_day_hours)

    def scores(self, q: np.ndarray, tz_query: np.ndarray, candidates: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Scores ``(m, n)`` of queries ``q`` (from ``query_vectors``) against candidate rows."""
        matrix = self.index.matrix[: self.index.n_rows]
        tz = self.index.cols().tz_offset[candidates]
        q = np.atleast_2d(q)
        if isinstance(candidates, slice):
            dots = q @ matrix[candidates].T
        else:
            cand = np.asarray(candidates)
            if cand.dtype == bool:
                cand = np.flatnonzero(cand)
            # one query against most rows: one streaming pass over the matrix beats gathering a copy of most of it
            dots = (q @ matrix.T)[:, cand] if len(q) == 1 and 3 * len(cand) > len(matrix) else q @ matrix[cand].T
        return dots + self.timezone_term(tz_query, tz)

    def bounded_candidates(
        self,
        q: np.ndarray,
        tz_query: np.ndarray,
        mask: np.ndarray,
        pool: int,
        sides: Sequence[int] = (0, 1),
        tolerance: float = 1e-4,
        phases: Sequence[int] | None = None,
        segments: np.ndarray | None = None,
    ) -> np.ndarray:
        """Sorted rows that hold the ``pool`` best allowed candidates of query vector ``q`` (a superset of them).

        A first pass over the coarse index (``index.coarse_index()``) bounds every score from below
        and above; rows whose upper bound is below the ``pool``-th best lower bound are dropped, so
        re-ranking the rest exactly gives exactly the top ``pool``. ``sides`` limits the scan to the
        abroad (0) and/or UK (1) segments: pass the other side only when the cross-border rule is on;
        ``phases`` (codes) to the candidates' phases the mask can allow (every phase when None);
        ``segments`` (``bool[2, n_phases]``, side by phase: ``ConstraintSet.segments``) replaces both.
        ``tolerance`` widens the bounds against float32 rounding. ``tz_query``: the query's offset in each term.
        """
        coarse = self.index.coarse_index(self.weights, min_rows=0)
        if coarse is None:
            return np.flatnonzero(mask)
        qc, q_residual = coarse.project_query(np.asarray(q, dtype=np.float32))
        allowed = np.zeros(len(mask) + 1, dtype=bool)  # a dead slot's row is -1: the last, always False
        allowed[:-1] = mask
        tz_term = self.timezone_term(np.asarray(tz_query, dtype=np.float32).reshape(1, -1), coarse.tz_values)[0]
        tol = np.float32(tolerance)
        centres, slacks, rows = [], [], []
        if segments is None:
            phase_codes = range(len(PHASE_CODE)) if phases is None else phases
            scan = [int(segment_id(side, phase)) for side in sides for phase in phase_codes]
        else:
            scan = np.flatnonzero(np.asarray(segments, dtype=bool).ravel()).tolist()  # row-major: segment_id order
        for seg in (coarse.segments[i] for i in scan):
            n = seg.size
            if n == 0:
                continue
            ok = np.flatnonzero(allowed[seg.rows[:n]])
            if len(ok) == 0:
                continue
            centre = qc @ seg.data[:, :n]  # every slot: one streaming pass beats gathering the allowed ones
            centres.append(centre[ok] + tz_term[seg.tz[ok]])
            slacks.append((q_residual @ seg.residual[:, :n])[ok] + tol)
            rows.append(seg.rows[ok])
        if not rows:
            return np.zeros(0, dtype=np.int64)
        centre, slack, all_rows = (np.concatenate(x) if len(x) > 1 else x[0] for x in (centres, slacks, rows))
        if len(centre) <= pool:
            return np.sort(all_rows)
        low = centre - slack
        threshold = np.partition(low, len(low) - pool)[len(low) - pool]
        return np.sort(all_rows[centre + slack >= threshold])

    # ------------------------------------------------------------ per-component scores
    def component_matrix(self, query_rows: np.ndarray, candidates: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Contributions ``(len(COMPONENTS), len(query_rows), n)`` of index rows against candidate rows (dense):
        summed over the first axis they are ``scores``."""
        query_rows = np.asarray(query_rows, dtype=np.int64)
        m = self.index.matrix[: self.index.n_rows]
        q = self.query_vectors(m[query_rows])
        cands = m[candidates]
        tz = self.index.cols().tz_offset
        out = np.empty((len(COMPONENTS), len(query_rows), len(cands)), dtype=np.float32)
        for j, name in enumerate(COMPONENTS):
            if name == "timezone_overlap":
                out[j] = self.timezone_term(tz[query_rows], tz[candidates])
            else:
                s = self.component_slices[name]
                out[j] = q[:, s] @ cands[:, s].T
        return out

    def pair_components(
        self,
        query_rows: np.ndarray,
        cand_rows: np.ndarray,
        *,
        query_vectors: np.ndarray | None = None,
        query_tz: np.ndarray | None = None,
        chunk: int = 16384,
    ) -> np.ndarray:
        """Contributions ``(n_pairs, len(COMPONENTS))`` of pairs ``(query_rows[i], cand_rows[i])``: each row
        adds up to the pair's score. The queries are index rows, or (with ``query_vectors``, from
        ``query_vectors``, and ``query_tz``) rows of those arrays, e.g. a posted profile's."""
        query_rows = np.asarray(query_rows, dtype=np.int64)
        cand_rows = np.asarray(cand_rows, dtype=np.int64)
        out = np.zeros((len(query_rows), len(COMPONENTS)), dtype=np.float32)
        tz = self.index.cols().tz_offset
        tz_q = tz if query_vectors is None else as_term_offsets(query_tz)
        for start in range(0, len(query_rows), chunk):  # chunks: two (chunk, D) arrays at a time
            a, b = query_rows[start : start + chunk], cand_rows[start : start + chunk]
            q = self.query_vectors(self.index.matrix[a]) if query_vectors is None else np.atleast_2d(query_vectors)[a]
            x = self.index.matrix[b]
            for j, name in enumerate(COMPONENTS):
                if name == "timezone_overlap":
                    out[start : start + chunk, j] = self.pair_timezone(tz_q[a], tz[b])
                else:
                    s = self.component_slices[name]
                    out[start : start + chunk, j] = np.einsum("ij,ij->i", x[:, s], q[:, s])
        return out

    def pair_scores(self, query_rows: np.ndarray, cand_rows: np.ndarray, chunk: int = 16384) -> np.ndarray:
        """Scores of pairs ``(query_rows[i], cand_rows[i])`` of index rows (``scores``'s diagonal)."""
        query_rows = np.asarray(query_rows, dtype=np.int64)
        cand_rows = np.asarray(cand_rows, dtype=np.int64)
        out = np.zeros(len(query_rows), dtype=np.float32)
        tz = self.index.cols().tz_offset
        for start in range(0, len(query_rows), chunk):
            a, b = query_rows[start : start + chunk], cand_rows[start : start + chunk]
            q = self.query_vectors(self.index.matrix[a])
            dots = np.einsum("ij,ij->i", q, self.index.matrix[b])
            out[start : start + chunk] = dots + self.pair_timezone(tz[a], tz[b])
        return out

    def pair_timezone(self, tz_a: np.ndarray, tz_b: np.ndarray) -> np.ndarray:
        """``timezone_term`` pair by pair (grouped by the query's offsets: few distinct values)."""
        tz_a, tz_b = as_term_offsets(tz_a), np.asarray(tz_b, dtype=np.float32)
        out = np.zeros(len(tz_a), dtype=np.float32)
        values, inverse = np.unique(tz_a, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        for i, value in enumerate(values):
            sel = inverse == i
            out[sel] = self.timezone_term(value[None, :], tz_b[sel])[0]
        return out

    def contributions(self, q: np.ndarray, tz_query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Contributions ``(len(rows), len(COMPONENTS))`` of one query vector ``q`` (offsets ``tz_query``, one per
        term) against candidate rows."""
        rows = np.asarray(rows, dtype=np.int64)
        return self.pair_components(
            np.zeros(len(rows), dtype=np.int64),
            rows,
            query_vectors=q,
            query_tz=np.asarray(tz_query, dtype=np.float32).reshape(1, -1),
        )
