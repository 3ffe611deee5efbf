"""Pair scoring and hard-constraint masks of a batch: UK rows against the candidates abroad.

``PairScorer`` computes ``ConstraintSet.allowed`` and ``Scorer``'s scores for blocks of UK rows: the
rules (``matching.core.rules``) that read only signature columns (``SIGNATURE_COLUMNS``) once per pair of
distinct signatures, the pair-listing rules, any other rule and the forbidden pairs row by row, sparsely.
``exact_pair_scores`` scores single pairs the same way whatever block or path they come from
(``Scorer.pair_scores`` / ``Scorer.pair_components`` score pairs of index rows).
"""

from __future__ import annotations

import numpy as np

from matching.core.coarse import CoarseIndex
from matching.core.columns import Query, SchoolColumns
from matching.core.constraints import ConstraintSet
from matching.core.index import SchoolIndex
from matching.core.rules import listed_rows
from matching.core.scoring import Scorer, as_term_offsets
from matching.errors import MatchingError

__all__ = [
    "BATCH_COARSE_BUDGET",
    "SIGNATURE_COLUMNS",
    "Coarse",
    "PairScorer",
    "exact_pair_scores",
    "signatures",
]

Coarse = tuple[CoarseIndex, dict[str, np.ndarray]]
"""A coarse basis and the candidates' coarse rows and residual norms (``PairScorer.coarse_candidates``)."""
BATCH_COARSE_BUDGET = 192  # coarse feature dimensions of the pruned path (measured: about 26 pairs per row survive)
_EMPTY = np.zeros(0, dtype=np.int64)


# The per-school columns of a signature (``signatures``): a rule that reads only these is evaluated once per
# pair of distinct signatures (``Rule.reads_only``).
SIGNATURE_COLUMNS = frozenset({"is_uk", "phase", "age_min", "age_max", "country", "tz_offset", "lang_bits"})


def signatures(columns: SchoolColumns, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(representative rows, inverse)``: rows with equal constraint columns share one signature."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return rows, np.zeros(0, dtype=np.int64)
    keys = np.column_stack(
        [
            columns.is_uk[rows].astype(np.int64),
            columns.phase[rows].astype(np.int64),
            columns.age_min[rows].astype(np.int64),
            columns.age_max[rows].astype(np.int64),
            np.ascontiguousarray(columns.country[rows]).view(np.uint32).reshape(len(rows), -1).astype(np.int64),
            np.ascontiguousarray(columns.tz_offset[rows], dtype=np.float32).view(np.int32).astype(np.int64),
            columns.lang_bits[rows].view(np.int64),
        ]
    )
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    return rows[first], inverse.reshape(-1)


class PairScorer:
    """Scores and hard-constraint masks of UK rows against the candidates abroad.

    The mask is ``ConstraintSet.allowed`` computed smartly: rules that depend only on per-school
    columns (phase, ages, languages, country, time zone) are evaluated once per pair of distinct
    signatures, and UK schools whose signatures allow the same candidates are scored together,
    against those candidates only; the pair-listing rules (current partners, exclusions) and
    forbidden pairs are applied sparsely. ``dense`` gives the plain ``(rows, candidates)`` arrays.
    """

    def __init__(
        self,
        index: SchoolIndex,
        scorer: Scorer,
        constraints: ConstraintSet,
        intl_rows: np.ndarray,
        forbidden: dict[int, np.ndarray] | None = None,
    ) -> None:
        self.index = index
        self.scorer = scorer
        self.constraints = constraints
        self.intl_rows = np.asarray(intl_rows, dtype=np.int64)
        self.forbidden = forbidden or {}  # uk row -> positions in intl_rows
        rules = constraints.rules()
        self.signature_rules = {n: r for n, r in rules.items() if r.reads_only(SIGNATURE_COLUMNS)}
        self.listed_rules = {n: r for n, r in rules.items() if r.listed is not None}
        self.other_rules = {
            n: r for n, r in rules.items() if n not in self.signature_rules and n not in self.listed_rules
        }
        cols = self.cols = index.cols()
        self.cand_matrix = np.ascontiguousarray(index.matrix[self.intl_rows])
        self.cand_norm = np.linalg.norm(self.cand_matrix, axis=1) if len(self.intl_rows) else np.zeros(0, np.float32)
        self.cand_tz = cols.tz_offset[self.intl_rows]
        self.cand_reps, self.cand_sig = signatures(cols, self.intl_rows)
        self.cand_present = cols.present[self.intl_rows]
        self._tz_rows: dict[tuple[float, ...], np.ndarray] = {}
        self._position = np.full(index.n_rows, -1, dtype=np.int64)
        self._position[self.intl_rows] = np.arange(len(self.intl_rows))
        self._coarse: Coarse | None = None
        self._columns: dict[tuple[int, ...], np.ndarray] = {}
        # the two score parts beyond the product and the time-zone term: the wishes term (in [-w, 0], 0 unless a
        # school states wishes) and each candidate's priority factor (>= 0, 1 unless priorities or the
        # popularity prior are configured); ``plain``: neither applies, scores are the product plus time zone
        self.cand_priority = scorer.priority()[self.intl_rows].astype(np.float32)
        self.wish_weight = np.float32(scorer.weights["wishes"]) if scorer.wishers().any() else np.float32(0)
        self.plain = not self.wish_weight and bool(np.all(self.cand_priority == 1))

    def columns(self, cols: np.ndarray) -> np.ndarray:
        """The candidates' full rows restricted to ``cols``, contiguous (kept: the groups share a few plans)."""
        key = tuple(np.asarray(cols).tolist())
        cached = self._columns.get(key)
        if cached is None:
            cached = self._columns[key] = np.ascontiguousarray(self.cand_matrix[:, cols])
        return cached

    def coarse_candidates(self) -> Coarse:
        """A coarse basis for the batch (``CoarseIndex.fit`` with ``BATCH_COARSE_BUDGET`` dimensions: wider than
        the single-query one, so its bounds are tight) and the candidates' coarse rows and residual norms."""
        if self._coarse is None:
            if self.index.n_rows == 0 or len(self.intl_rows) == 0:
                raise MatchingError("no coarse basis for an empty registry")
            coarse = CoarseIndex.fit(self.index, self.scorer.block_weights, budget=BATCH_COARSE_BUDGET, populate=False)
            self._coarse = (coarse, coarse.project(self.cand_matrix))
        return self._coarse

    def release_coarse(self) -> None:
        """Drop the coarse basis, the candidates' coarse rows and the column copies (about 160 MiB at 100,000
        schools abroad) once candidate scoring is done; ``coarse_candidates`` fits the basis again if asked."""
        self._coarse = None
        self._columns.clear()

    # ------------------------------------------------------------ pieces
    def signature_mask(self, uk_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mask, inverse)``: the signature rules between the UK rows' signatures and the candidates'."""
        reps, inverse = signatures(self.index.cols(), uk_rows)
        query = Query.registered(self.index, reps)
        cands = self.index.cols().take(self.cand_reps)
        mask = np.ones((len(reps), len(self.cand_reps)), dtype=bool)
        for rule in self.signature_rules.values():
            mask &= rule(query, cands, self.index, self.constraints.filters)
        return mask, inverse

    def excluded(self, uk_row: int) -> np.ndarray:
        """Positions (in ``intl_rows``) a UK row may not pair with beyond the signature rules: the listing
        rules, any other rule in force (evaluated for this row), and the forbidden pairs."""
        parts = []
        rows = [r for rule in self.listed_rules.values() for r in listed_rows(rule, self.cols, uk_row, self.index)]
        if rows:
            pos = self._position[np.array(rows, dtype=np.int64)]
            parts.append(pos[pos >= 0])
        if self.other_rules:
            query = Query.registered(self.index, [uk_row])
            for rule in self.other_rules.values():
                parts.append(np.flatnonzero(~self.constraints.mask(rule, query, self.index, self.intl_rows)[0]))
        extra = self.forbidden.get(int(uk_row))
        if extra is not None:
            parts.append(extra)
        return np.unique(np.concatenate(parts)) if parts else _EMPTY

    def timezone(self, tz_query: np.ndarray, cand: np.ndarray | slice = slice(None)) -> np.ndarray:
        """``Scorer.timezone_term`` rows for the queries' offsets ``(m, N_TERMS)`` (computed once per distinct row)."""
        values, inverse = np.unique(as_term_offsets(tz_query), axis=0, return_inverse=True)
        table = []
        for value in values:
            key = tuple(value.tolist())
            row = self._tz_rows.get(key)
            if row is None:
                row = self.scorer.timezone_term(value[None, :], self.cand_tz)[0]
                self._tz_rows[key] = row
            table.append(row[cand])
        return np.stack(table)[inverse.reshape(-1)]

    def scores(self, uk_rows: np.ndarray, cand: np.ndarray | slice = slice(None)) -> np.ndarray:
        """``Scorer.scores`` of UK rows against candidates (positions in ``intl_rows``)."""
        q = self.scorer.query_vectors(self.index.matrix[uk_rows])
        matrix = self.cand_matrix if isinstance(cand, slice) else self.cand_matrix[cand]
        out = q @ matrix.T
        tz = self.index.cols().tz_offset[uk_rows]
        if len(np.unique(tz, axis=0)) == 1:
            out += self.timezone(tz[:1], cand)[0][None, :]
        else:
            out += self.timezone(tz, cand)
        if not self.plain:
            rows = self.intl_rows[cand]
            if self.wish_weight:
                uk_rows = np.asarray(uk_rows, dtype=np.int64)
                out += self.wish_weight * self.scorer.wishes_raw(self.cols, rows, query_pos=uk_rows)
            out *= self.cand_priority[cand][None, :]
        return np.asarray(out, dtype=np.float32)

    def finish(self, uk_rows: np.ndarray, cand: np.ndarray, raw: np.ndarray) -> np.ndarray:
        """Pair scores from ``raw`` (product plus time-zone term, ``exact_pair_scores``) of pairs ``(uk_rows[i],
        cand[i])`` (index rows, positions in ``intl_rows``): plus the wishes term, times the candidate's
        priority, as ``Scorer.pair_scores``."""
        if self.plain or len(raw) == 0:
            return raw
        out = np.asarray(raw, dtype=np.float32)
        if self.wish_weight:
            wishes = self.scorer.pair_wishes(self.cols, np.asarray(uk_rows, np.int64), self.intl_rows[cand])
            out = out + self.wish_weight * wishes
        return (out * self.cand_priority[cand]).astype(np.float32)

    def allowed(self, uk_rows: np.ndarray, cand: np.ndarray | None = None) -> np.ndarray:
        """The hard constraints (forbidden pairs included) of UK rows against the candidates (positions in
        ``intl_rows``; ``None``: all of them): ``(len(uk_rows), len(cand))``."""
        uk_rows = np.asarray(uk_rows, dtype=np.int64)
        pick = slice(None) if cand is None else np.asarray(cand, dtype=np.int64)
        mask, inverse = self.signature_mask(uk_rows)
        allowed = mask[inverse][:, self.cand_sig[pick]] & self.cand_present[pick][None, :]
        local = None
        if cand is not None:
            local = np.full(len(self.intl_rows), -1, dtype=np.int64)
            local[pick] = np.arange(len(pick))
        for i, row in enumerate(uk_rows.tolist()):
            ex = self.excluded(row)
            if local is not None and len(ex):
                ex = local[ex]
                ex = ex[ex >= 0]
            allowed[i, ex] = False
        return allowed

    def dense(self, uk_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(allowed, scores)``, both ``(len(uk_rows), len(intl_rows))``, forbidden pairs masked out."""
        return self.allowed(uk_rows), self.scores(np.asarray(uk_rows, dtype=np.int64))

    def groups(self, uk_rows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(positions in uk_rows, allowed candidate signatures)``: UK schools whose signatures allow the
        same candidates (``candidates(pattern)`` gives the candidate positions)."""
        mask, inverse = self.signature_mask(uk_rows)
        patterns, pattern_of_sig = np.unique(mask, axis=0, return_inverse=True)
        pattern_of_row = pattern_of_sig.reshape(-1)[inverse]
        return [(np.flatnonzero(pattern_of_row == p), patterns[p]) for p in range(len(patterns))]

    def candidates(self, pattern: np.ndarray) -> np.ndarray:
        """Positions (in ``intl_rows``) of the candidates whose signature a pattern allows."""
        return np.flatnonzero(pattern[self.cand_sig] & self.cand_present)


def exact_pair_scores(
    q: np.ndarray, matrix: np.ndarray, tz_term: np.ndarray, i: np.ndarray, j: np.ndarray,
    matrix_rows: np.ndarray | None = None, chunk: int = 1024,
) -> np.ndarray:  # fmt: skip
    """The exact score of pairs ``(q[i], matrix[j])`` plus ``tz_term[i, j]`` (row 0 when it has one row);
    with ``matrix_rows``, the pair's candidate row is ``matrix[matrix_rows[j]]``.

    Computed the same way whatever else is scored: float64 products of the float32 values (exact),
    summed pair by pair, plus the time-zone term, rounded once to float32. So a pair's score does not
    depend on the block or the path that scored it, and ties are real ties.
    """
    out = np.empty(len(i), dtype=np.float32)
    if len(i) == 0:
        return out
    order = np.argsort(i, kind="stable")  # pairs of one query together: one query vector per product
    si, sj = i[order], j[order]
    cuts = np.flatnonzero(np.diff(si)) + 1
    starts, ends = np.concatenate([[0], cuts]), np.concatenate([cuts, [len(si)]])
    tz_i = si if tz_term.shape[0] > 1 else np.zeros_like(si)
    sorted_out = np.empty(len(si), dtype=np.float64)
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        for a in range(s, e, chunk):
            z = min(e, a + chunk)
            x = matrix[sj[a:z] if matrix_rows is None else matrix_rows[sj[a:z]]]
            # float32 products are exact in float64; einsum sums each row in the same order whatever the rows
            sorted_out[a:z] = np.einsum("ij,j->i", x, q[si[a]], dtype=np.float64)
    sorted_out += tz_term[tz_i, sj]
    out[order] = sorted_out
    return out
