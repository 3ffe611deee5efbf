"""The soft score: weighted similarities and pair terms, mostly one matrix product.

score(a, c) = p(c) * [ sum_b w_b * cos_b(a, c)                        (country, themes: feature blocks)
                     + w_phase * (|A∩C| / |A| + |A∩C| / |C|) / 2       (age fit: years in common, each way)
                     + w_comp * (want_a . offer_c / Σwant_a + want_c . offer_a / Σwant_c) / 2
                                                                       (complementarity: wants met, each way)
                     + w_skills * offer_a . offer_c / 6                (shared strengths: both offer)
                     + w_ready * readiness_c                           (ISA status, CPD badge)
                     - exposure * mean_q score(q, c)                   (popularity: the mean query of a's side)
                     + w_tz * overlap_hours(a, c) / school_day_hours   (live lessons, mean over the terms)
                     + w_wishes * (H(fit(a -> c), fit(c -> a)) - 1) ]  (both schools' wishes, reciprocal)

``p(c)`` is the programme's priority weight of c's country or region (1 unless configured), times the popularity
prior's factor (``config.exposure.prior``) and c's demand factor (``Scorer.demand``: set from outside, e.g. the
service shows schools with many unanswered partnership requests less). The first six
lines are ``index.matrix @ query_vector``: the weights and the exposure penalty sit on the query side, so
changing them never touches the index, and the coarse first pass bounds them exactly. The time-zone and
wishes terms are computed exactly from per-school columns (a few values each). Each component's
contribution is exact and the contributions add up to the score.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from features import vocab
from matching.core.coarse import nonzero_spans, segment_id
from matching.core.columns import N_TERMS, PAIR_SLICES, PHASE_CODE, SchoolColumns, wrapped_hours
from matching.core.config import COMPONENTS, RankerConfig
from matching.core.index import SchoolIndex
from matching.core.wishes import combine_fits, has_wishes, wish_fit
from matching.errors import ConfigError

_K = len(vocab.SKILLS)
QUERY_BLOCKS: tuple[str, ...] = ("country", "themes")  # the feature blocks query vectors read (the rest: pair columns)
EXPOSURE_REFRESH = 0.02  # the mean queries are recomputed when either side's size moved by more than this share


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


@dataclass(frozen=True)
class Demand:
    """Per-school score factors in (0, 1] set from outside the index (the service's exposure cap: a school with
    many unanswered partnership requests is shown less), and the reason line shown for those schools. A factor
    of at most 1 keeps the bounded search exact (it scales both bounds, as the priority weight does)."""

    factors: Mapping[str, float] = field(default_factory=dict)  # school id -> factor; absent: 1
    note: str = "shown less"

    def __post_init__(self) -> None:
        bad = {sid: f for sid, f in self.factors.items() if not 0 < f <= 1}
        if bad:
            raise ConfigError(f"demand factors {bad} must be in (0, 1]")

    def factor(self, school_id: str) -> float:
        """The factor of one school (1 when it has none)."""
        return float(self.factors.get(school_id, 1.0))


class Scorer:
    """Turns candidate-side rows and a configuration into scores and exact contributions."""

    def __init__(self, index: SchoolIndex, config: RankerConfig) -> None:
        self.index = index
        self.config = config
        self.weights = config.weights.as_dict()
        d = index.n_features
        self.pair_slices = {name: slice(d + s.start, d + s.stop) for name, s in PAIR_SLICES.items()}
        ps = self.pair_slices
        self.component_slices: dict[str, slice] = {
            "country": index.blocks["country"],
            "phase": slice(ps["ages"].start, ps["ages_share"].stop),
            "themes": index.blocks["themes"],
            "skills": ps["offer_shared"],
            "complementarity": slice(ps["offer"].start, ps["want_share"].stop),
            "readiness": ps["readiness"],
        }
        self._mean_queries: tuple[tuple[int, int], np.ndarray] | None = None  # ((n abroad, n UK), (2, D))
        # (index version, shown, demand, per-row score factor): the objects themselves, compared with ``is``
        self._priority: tuple[int, object, object, np.ndarray] | None = None
        self.shown: np.ndarray | None = None  # per row: lists it was in when the popularity prior was fitted
        self.demand = Demand()  # replaced whole (never mutated), so a ranking sees one set of factors
        self.fit_shown: Callable[[], np.ndarray] | None = None  # fits ``shown`` when first needed (set by a Ranker)
        self._wishers: tuple[int, np.ndarray, bool] | None = None  # (index version, per row "states a wish", any)

    # ------------------------------------------------------------ the query side
    @property
    def block_weights(self) -> dict[str, float]:
        """Each feature block's weight in the query vectors: the coarse index's dimensions go by these."""
        return {name: float(self.weights[name]) if name in QUERY_BLOCKS else 0.0 for name in self.index.blocks}

    def base_query_vectors(self, rows_matrix: np.ndarray) -> np.ndarray:
        """Query-side vectors (m, D) from candidate-side rows (m, D), before the exposure penalty."""
        rows_matrix = np.atleast_2d(rows_matrix)
        w, ps = self.weights, self.pair_slices
        q = np.zeros_like(rows_matrix, dtype=np.float32)
        for name in QUERY_BLOCKS:
            s = self.index.blocks[name]
            q[:, s] = rows_matrix[:, s] * w[name]
        half = np.float32(w["complementarity"] / 2)
        q[:, ps["offer"]] = rows_matrix[:, ps["want_share"]] * half
        q[:, ps["want_share"]] = rows_matrix[:, ps["offer"]] * half
        q[:, ps["offer_shared"]] = rows_matrix[:, ps["offer_shared"]] * np.float32(w["skills"] / _K)
        q[:, ps["readiness"]] = w["readiness"]
        q[:, ps["ages"]] = rows_matrix[:, ps["ages_share"]] * np.float32(w["phase"] / 2)
        q[:, ps["ages_share"]] = rows_matrix[:, ps["ages"]] * np.float32(w["phase"] / 2)
        return q

    def mean_queries(self) -> np.ndarray:
        """``(2, D)``: the mean base query vector of the active schools abroad (row 0) and in the UK (row 1): a
        candidate's mean score from that side, its popularity prior, is one dot product with it. Computed on first
        use and again when a side's size has moved by more than ``EXPOSURE_REFRESH`` (not on every change)."""
        cols = self.index.cols()
        live = cols.present & cols.active
        sizes = (int(np.count_nonzero(live & ~cols.is_uk)), int(np.count_nonzero(live & cols.is_uk)))
        cached = self._mean_queries
        if cached is not None and all(
            abs(n - old) <= EXPOSURE_REFRESH * max(old, 1) for n, old in zip(sizes, cached[0], strict=True)
        ):
            return cached[1]
        matrix = self.index.matrix[: self.index.n_rows]
        means = np.zeros((2, matrix.shape[1]), dtype=np.float32)
        for side in (0, 1):
            rows = np.flatnonzero(live & (cols.is_uk == bool(side)))
            if len(rows):
                means[side] = self.base_query_vectors(matrix[rows].mean(axis=0, dtype=np.float64))[0]
        self._mean_queries = (sizes, means)
        return means

    def query_vectors(self, rows_matrix: np.ndarray) -> np.ndarray:
        """Query-side vectors (m, D) from candidate-side rows (m, D): weighted, want/offer swapped, less
        ``exposure`` times the mean query of the asking school's side (so popular candidates lose that much
        of their mean score)."""
        q = self.base_query_vectors(rows_matrix)
        penalty = self.config.exposure.penalty
        if penalty:
            side = np.atleast_2d(rows_matrix)[:, self.pair_slices["is_uk"].start] > 0.5
            q -= np.float32(penalty) * self.mean_queries()[side.astype(np.int64)]
        return q

    # ------------------------------------------------------------ the exact terms
    def timezone_term(self, tz_query: np.ndarray, tz_cands: np.ndarray) -> np.ndarray:
        """Weighted school-day overlap (mean over the terms), ``(m, n)``, of query offsets ``(m, N_TERMS)``
        against candidate offsets ``(n, N_TERMS)``."""
        tz_query, tz_cands = as_term_offsets(tz_query), np.asarray(tz_cands, dtype=np.float32)
        hours = overlap_hours(tz_query[:, None, :], tz_cands[None, :, :], self.config.school_day_hours)
        return hours * np.float32(self.weights["timezone_overlap"] / self.config.school_day_hours)

    def wishers(self) -> np.ndarray:
        """Per index row: whether the school states any wish (cached per index version)."""
        return self._wisher_cache()[0]

    def any_wisher(self) -> bool:
        """Whether any index row states a wish (cached per index version): when none does and the asking school
        states none, the wishes term is exactly 0 and is skipped."""
        return self._wisher_cache()[1]

    def _wisher_cache(self) -> tuple[np.ndarray, bool]:
        cached = self._wishers
        if cached is None or cached[0] != self.index.version:
            changed = None if cached is None else self.index.updated_rows_since(cached[0])
            if changed is None:
                rows = has_wishes(self.index.cols())
            else:  # only rows updated in place: those rows again
                rows = cached[1].copy()
                rows[changed] = has_wishes(self.index.cols().take(changed))
            cached = self._wishers = (self.index.version, rows, bool(rows.any()))
        return cached[1], cached[2]

    def wishes_raw(
        self,
        query: SchoolColumns | None,
        cands: np.ndarray | slice,
        query_pos: np.ndarray | None = None,
        pairs: bool = False,
    ) -> np.ndarray:
        """Unweighted wishes term ``H(fit(a -> c), fit(c -> a)) - 1`` in [-1, 0] of query schools (``query``'s rows
        at ``query_pos``, default all) against candidate rows: ``(m, n)``, or ``(n,)`` pair by pair with ``pairs``.
        Exactly 0 where neither side states a wish. ``query`` None (the asking side unknown) is allowed only
        while no candidate states a wish (the result is then 0, shaped ``(1, n)``)."""
        rows = np.arange(self.index.n_rows)[cands] if isinstance(cands, slice) else np.asarray(cands)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        cand_wish = self.any_wisher() and bool(self.wishers()[rows].any())
        if query is None:
            if cand_wish:
                raise ConfigError("the wishes term needs the asking school's columns: a candidate states wishes")
            return np.zeros(len(rows) if pairs else (1, len(rows)), dtype=np.float32)
        qp = np.arange(len(query)) if query_pos is None else np.asarray(query_pos, dtype=np.int64)
        shape = (len(rows),) if pairs else (len(qp), len(rows))
        if not cand_wish and not has_wishes(query)[qp].any():
            return np.zeros(shape, dtype=np.float32)
        qa = qp if pairs else qp[:, None]
        cr = rows if pairs else rows[None, :]
        cols = self.index.cols()
        there = wish_fit(query, cols, qa, cr)
        back = wish_fit(cols, query, cr, qa)
        return combine_fits(there, back, self.config.wishes_combine) - np.float32(1)

    def wishing(self, query: SchoolColumns | None) -> bool:
        """Whether the wishes term can be non-zero for these queries (a candidate or a query states a wish); when
        it cannot, callers skip it (it is exactly 0)."""
        return self.any_wisher() or (query is not None and bool(has_wishes(query).any()))

    def wishes_term(self, query: SchoolColumns | None, cands: np.ndarray | slice) -> np.ndarray:
        """``w_wishes * wishes_raw``, ``(m, n)``."""
        return self.wishes_raw(query, cands) * np.float32(self.weights["wishes"])

    def priority(self) -> np.ndarray:
        """Per index row, the factor its scores are multiplied by: the programme's priority weight of its country
        or region (``config.priorities``) times the popularity prior (``config.exposure.prior``) times its
        demand factor (``demand``)."""
        pr = self.config.priorities
        n = self.index.n_rows
        prior = self.config.exposure.prior
        shown, demand = self.shown, self.demand
        if not pr.countries and not pr.regions and not prior and not demand.factors:
            return np.ones(n, dtype=np.float32)
        cached = self._priority
        if cached is not None and cached[1] is shown and cached[2] is demand and len(cached[3]) == n:
            if cached[0] == self.index.version:
                return cached[3]
            changed = self.index.updated_rows_since(cached[0])
            # rows updated in place keep their prior counts and demand factors; only a country can move a weight
            if changed is not None and not (changed and (pr.countries or pr.regions)):
                self._priority = (self.index.version, shown, demand, cached[3])
                return cached[3]
        weight = np.ones(n, dtype=np.float32)
        if n and (pr.countries or pr.regions):
            codes, inverse = np.unique(self.index.cols().country, return_inverse=True)
            weight = np.array([pr.weight_of(str(c)) for c in codes], dtype=np.float32)[inverse.reshape(-1)]
        if prior:
            if shown is None:
                if self.fit_shown is None:
                    raise ConfigError("exposure.prior is on but not fitted: call Ranker.fit_exposure() first")
                shown = self.fit_shown()
            counts = np.zeros(n, dtype=np.float64)  # rows added since the fit count 0
            m = min(n, len(shown))
            counts[:m] = shown[:m]
            mean = counts[counts > 0].mean() if (counts > 0).any() else 1.0
            weight = weight * (1.0 + counts / mean).astype(np.float32) ** np.float32(-prior)
        if demand.factors:
            row_of = self.index.row_of
            for school_id, f in demand.factors.items():
                row = row_of.get(school_id)
                if row is not None:
                    weight[row] *= np.float32(f)
        weight = weight.astype(np.float32)
        self._priority = (self.index.version, shown, demand, weight)
        return weight

    def shown_less(self, rows: Sequence[int] | np.ndarray) -> list[str | None]:
        """Per candidate row: the demand's note when its demand factor is below 1 (the reason it is shown less)."""
        demand = self.demand
        if not demand.factors:
            return [None] * len(rows)
        ids = self.index.columns.ids
        return [demand.note if demand.factor(ids[int(r)]) < 1 else None for r in rows]

    # ------------------------------------------------------------ scores
    def scores(
        self,
        q: np.ndarray,
        tz_query: np.ndarray,
        candidates: np.ndarray | slice = slice(None),
        query: SchoolColumns | None = None,
    ) -> np.ndarray:
        """Scores ``(m, n)`` of queries ``q`` (from ``query_vectors``; ``query``: their columns, for the wishes
        term) against candidate rows."""
        matrix = self.index.matrix[: self.index.n_rows]
        tz = self.index.cols().tz_offset[candidates]
        q = np.atleast_2d(q)
        if isinstance(candidates, slice):
            dots = q @ matrix[candidates].T
        else:
            cand = np.asarray(candidates)
            if cand.dtype == bool:
                cand = np.flatnonzero(cand)
            candidates = cand
            # one query against most rows: one streaming pass over the matrix beats gathering a copy of most of it
            dots = (q @ matrix.T)[:, cand] if len(q) == 1 and 3 * len(cand) > len(matrix) else q @ matrix[cand].T
        out = dots + self.timezone_term(tz_query, tz)
        if self.wishing(query):
            out += self.wishes_term(query, candidates)
        return out * self.priority()[candidates][None, :]

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
        query: SchoolColumns | None = None,
    ) -> np.ndarray:
        """Sorted rows that hold the ``pool`` best allowed candidates of query vector ``q`` (a superset of them).

        A first pass over the coarse index (``index.coarse_index()``) bounds every score from below
        and above; rows whose upper bound is below the ``pool``-th best lower bound are dropped, so
        re-ranking the rest exactly gives exactly the top ``pool``. ``sides`` limits the scan to the
        abroad (0) and/or UK (1) segments: pass the other side only when the cross-border rule is on;
        ``phases`` (codes) to the candidates' phases the mask can allow (every phase when None);
        ``segments`` (``bool[2, n_phases, 2]``, side by phase by available: ``ConstraintSet.segments``) replaces both.
        ``tolerance`` widens the bounds against float32 rounding. ``tz_query``: the query's offset in each term.
        The time-zone and wishes terms are added exactly; the priority weight (>= 0) scales both bounds.
        """
        coarse = self.index.coarse_index(self.block_weights, min_rows=0)
        if coarse is None:
            return np.flatnonzero(mask)
        qc, q_residual = coarse.project_query(np.asarray(q, dtype=np.float32))
        spans = nonzero_spans(qc)
        allowed = np.zeros(len(mask) + 1, dtype=bool)  # a dead slot's row is -1: the last, always False
        allowed[:-1] = mask
        tz_term = self.timezone_term(np.asarray(tz_query, dtype=np.float32).reshape(1, -1), coarse.tz_values)[0]
        priority = self.priority()
        wishing = self.wishing(query)
        tol = np.float32(tolerance)
        centres, slacks, rows = [], [], []
        if segments is None:
            phase_codes = range(len(PHASE_CODE)) if phases is None else phases
            scan = [int(segment_id(side, phase, a)) for side in sides for phase in phase_codes for a in (False, True)]
        else:
            scan = np.flatnonzero(np.asarray(segments, dtype=bool).ravel()).tolist()  # row-major: segment_id order
        for seg in (coarse.segments[i] for i in scan):
            n = seg.size
            if n == 0:
                continue
            ok = np.flatnonzero(allowed[seg.rows[:n]])
            if len(ok) == 0:
                continue
            seg_rows = seg.rows[ok]
            centre = seg.product(qc, spans)  # every slot: one streaming pass beats gathering the allowed ones
            exact = tz_term[seg.tz[ok]] + self.wishes_term(query, seg_rows)[0] if wishing else tz_term[seg.tz[ok]]
            p = priority[seg_rows]
            centres.append((centre[ok] + exact) * p)
            slacks.append(((q_residual @ seg.residual[:, :n])[ok] + tol) * p)
            rows.append(seg_rows)
        if not rows:
            return np.zeros(0, dtype=np.int64)
        centre, slack, all_rows = (np.concatenate(x) if len(x) > 1 else x[0] for x in (centres, slacks, rows))
        if len(centre) <= pool:
            return np.sort(all_rows)
        low = centre - slack
        threshold = np.partition(low, len(low) - pool)[len(low) - pool]
        return np.sort(all_rows[centre + slack >= threshold])

    # ------------------------------------------------------------ per-component scores
    def _linear_parts(self, q: np.ndarray, x: np.ndarray, pairs: bool) -> dict[str, np.ndarray]:
        """Each linear component's part of ``q . x`` (queries never weight the columns outside these slices,
        so the parts add up to the product)."""
        out = {}
        for name, s in self.component_slices.items():
            out[name] = np.einsum("ij,ij->i", x[:, s], q[:, s]) if pairs else q[:, s] @ x[:, s].T
        return out

    def component_matrix(self, query_rows: np.ndarray, candidates: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Contributions ``(len(COMPONENTS), len(query_rows), n)`` of index rows against candidate rows (dense):
        summed over the first axis they are ``scores``."""
        query_rows = np.asarray(query_rows, dtype=np.int64)
        m = self.index.matrix[: self.index.n_rows]
        q = self.query_vectors(m[query_rows])
        cands = m[candidates]
        cols = self.index.cols()
        tz = cols.tz_offset
        out = np.empty((len(COMPONENTS), len(query_rows), len(cands)), dtype=np.float32)
        parts = self._linear_parts(q, cands, pairs=False)
        for j, name in enumerate(COMPONENTS):
            if name == "timezone_overlap":
                out[j] = self.timezone_term(tz[query_rows], tz[candidates])
            elif name == "wishes":
                out[j] = self.wishes_raw(cols, candidates, query_pos=query_rows) * np.float32(self.weights["wishes"])
            else:
                out[j] = parts[name]
        return out * self.priority()[candidates][None, None, :]

    def pair_components(
        self,
        query_rows: np.ndarray,
        cand_rows: np.ndarray,
        *,
        query_vectors: np.ndarray | None = None,
        query_tz: np.ndarray | None = None,
        query_columns: SchoolColumns | None = None,
        chunk: int = 16384,
    ) -> np.ndarray:
        """Contributions ``(n_pairs, len(COMPONENTS))`` of pairs ``(query_rows[i], cand_rows[i])``: each row
        adds up to the pair's score. The queries are index rows, or (with ``query_vectors``, from
        ``query_vectors``, ``query_tz`` and ``query_columns``) rows of those arrays, e.g. a posted profile's."""
        query_rows = np.asarray(query_rows, dtype=np.int64)
        cand_rows = np.asarray(cand_rows, dtype=np.int64)
        out = np.zeros((len(query_rows), len(COMPONENTS)), dtype=np.float32)
        cols = self.index.cols()
        tz = cols.tz_offset
        tz_q = tz if query_vectors is None else as_term_offsets(query_tz)
        q_cols = cols if query_vectors is None else query_columns
        w_wishes = np.float32(self.weights["wishes"])
        priority = self.priority()
        for start in range(0, len(query_rows), chunk):  # chunks: two (chunk, D) arrays at a time
            a, b = query_rows[start : start + chunk], cand_rows[start : start + chunk]
            q = self.query_vectors(self.index.matrix[a]) if query_vectors is None else np.atleast_2d(query_vectors)[a]
            x = self.index.matrix[b]
            parts = self._linear_parts(q, x, pairs=True)
            at = slice(start, start + len(a))
            for j, name in enumerate(COMPONENTS):
                if name == "timezone_overlap":
                    out[at, j] = self.pair_timezone(tz_q[a], tz[b])
                elif name == "wishes":
                    out[at, j] = w_wishes * self.pair_wishes(q_cols, a, b)
                else:
                    out[at, j] = parts[name]
            out[at] *= priority[b][:, None]
        return out

    def pair_wishes(self, q_cols: SchoolColumns | None, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``wishes_raw`` pair by pair: queries at positions ``a`` of ``q_cols`` against index rows ``b``."""
        return self.wishes_raw(q_cols, b, query_pos=a, pairs=True)

    def pair_scores(self, query_rows: np.ndarray, cand_rows: np.ndarray, chunk: int = 16384) -> np.ndarray:
        """Scores of pairs ``(query_rows[i], cand_rows[i])`` of index rows (``scores``'s diagonal)."""
        query_rows = np.asarray(query_rows, dtype=np.int64)
        cand_rows = np.asarray(cand_rows, dtype=np.int64)
        out = np.zeros(len(query_rows), dtype=np.float32)
        cols = self.index.cols()
        tz = cols.tz_offset
        w_wishes = np.float32(self.weights["wishes"])
        priority = self.priority()
        for start in range(0, len(query_rows), chunk):
            a, b = query_rows[start : start + chunk], cand_rows[start : start + chunk]
            q = self.query_vectors(self.index.matrix[a])
            dots = np.einsum("ij,ij->i", q, self.index.matrix[b])
            extra = self.pair_timezone(tz[a], tz[b]) + w_wishes * self.pair_wishes(cols, a, b)
            out[start : start + chunk] = (dots + extra) * priority[b]
        return out

    def pair_timezone(self, tz_a: np.ndarray, tz_b: np.ndarray) -> np.ndarray:
        """``timezone_term`` pair by pair (grouped by the query's offsets: few distinct values)."""
        tz_a, tz_b = as_term_offsets(tz_a), np.asarray(tz_b, dtype=np.float32)
        out = np.zeros(len(tz_a), dtype=np.float32)
        if len(tz_a) and bool((tz_a == tz_a[0]).all()):
            # One query against its candidates (every request): no ``np.unique`` over identical rows.
            out[:] = self.timezone_term(tz_a[:1], tz_b)[0]
            return out
        values, inverse = np.unique(tz_a, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        for i, value in enumerate(values):
            sel = inverse == i
            out[sel] = self.timezone_term(value[None, :], tz_b[sel])[0]
        return out

    def contributions(
        self, q: np.ndarray, tz_query: np.ndarray, rows: np.ndarray, query: SchoolColumns | None = None
    ) -> np.ndarray:
        """Contributions ``(len(rows), len(COMPONENTS))`` of one query vector ``q`` (offsets ``tz_query``, one per
        term; ``query``: its columns, for the wishes term) against candidate rows."""
        rows = np.asarray(rows, dtype=np.int64)
        return self.pair_components(
            np.zeros(len(rows), dtype=np.int64),
            rows,
            query_vectors=q,
            query_tz=np.asarray(tz_query, dtype=np.float32).reshape(1, -1),
            query_columns=query,
        )


def age_fit(
    a_min: np.ndarray | int, a_max: np.ndarray | int, b_min: np.ndarray | int, b_max: np.ndarray | int
) -> np.ndarray:
    """The age-fit component's raw value: years both ranges teach, relative to each range, averaged over the two
    (1: the same ages; 0: none in common). What the ``phase`` columns of two index rows give."""
    a_min, a_max, b_min, b_max = (np.asarray(x, dtype=np.float64) for x in (a_min, a_max, b_min, b_max))
    common = np.maximum(0.0, np.minimum(a_max, b_max) - np.maximum(a_min, b_min) + 1)
    return 0.5 * (common / (a_max - a_min + 1) + common / (b_max - b_min + 1))
