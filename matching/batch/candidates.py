"""The sparse candidate graph of a batch: each school's top-K allowed partners on the other side.

Built in blocks of UK rows from the core: ``ConstraintSet.allowed`` (hard constraints) and
``Scorer``'s scores (bounds from one matrix product per block, then exact scores for the pairs the
bounds cannot rule out, see ``_score_block``): each UK row keeps its K best eligible candidates, and
each school abroad keeps its K best UK schools among the best of each block of UK rows (the block's
top K when blocks are small, else its best row, enough to make every school abroad reachable); the
graph is the union. Ties are broken by position, so the graph is the same whichever bounds are used
(``pruned``: the coarse index, else the exact float32 product). (Keeping one side's lists
only misses the schools abroad that are nobody's top K, and with them much of the optimum: popular
schools fill up, the rest stay unseen.)

The graph is three aligned arrays ``(src, dst, score)`` over local indices (``src`` into
``uk_rows``, ``dst`` into ``intl_rows``), plus per-school counts that explain later why a school
was left unmatched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from matching.core.config import COMPONENTS
from matching.core.constraints import LISTED_RULES, ConstraintSet, Query
from matching.core.index import CoarseIndex, SchoolColumns, SchoolIndex
from matching.core.scoring import Scorer
from matching.errors import MatchingError

_Coarse = tuple[CoarseIndex, dict[str, np.ndarray]]
ProgressCallback = Callable[[str, int, int], None]
"""``callback(stage, done, total)``: called after each block of work."""
CancelCheck = Callable[[], bool]
"""``should_cancel() -> bool``: polled between blocks; True stops the run with ``BatchCancelled``."""

BLOCK_ELEMENTS = 1 << 23  # about 8M pair cells per block (32 MiB per float32 array)
# Pruned candidate scoring by default from this many UK x candidate pairs on (None: only when asked). Measured
# (docs/readme/30-batch-matching.md): with the batch's wider coarse basis the pruned path gives the same graph
# faster at 20k and 100k a side; below a few million pairs the exact product is cheap and needs no basis.
PRUNE_MIN_PAIRS: int | None = 50_000_000
CHUNK_LEN = 64  # candidates per chunk of the row bounds (see ``_bound``)
BATCH_COARSE_BUDGET = 192  # coarse feature dimensions of the pruned path (measured: about 26 pairs per row survive)
COARSE_TOLERANCE = 1e-4  # widens the coarse bounds against float32 rounding (as ``Scorer.bounded_candidates``)


_EMPTY = np.zeros(0, dtype=np.int64)
_NO_SRC = np.iinfo(np.int32).max  # an empty slot of a column buffer: sorts after every row


class BatchCancelled(MatchingError):
    """A batch run was cancelled through its ``should_cancel`` callback."""


@dataclass(frozen=True)
class CandidateGraph:
    """Each UK school's top-K eligible candidates abroad, as aligned arrays.

    Eligible = allowed by every hard constraint, not forbidden, with free places, and scoring at
    least the minimum score. Edges of one UK school are contiguous, best first.
    """

    uk_rows: np.ndarray  # int64 (n_uk,) index rows of the UK side
    intl_rows: np.ndarray  # int64 (n_intl,) index rows of the side abroad
    src: np.ndarray  # int32 (E,) position in uk_rows
    dst: np.ndarray  # int32 (E,) position in intl_rows
    score: np.ndarray  # float32 (E,) the UK school's score of the candidate
    top_k: int
    n_compatible: np.ndarray  # int32 (n_uk,) candidates passing every hard constraint (full ones included)
    n_open: np.ndarray  # int32 (n_uk,) ... of which have free places
    n_eligible: np.ndarray  # int32 (n_uk,) ... of which score at least the minimum score
    best_open: np.ndarray  # float32 (n_uk,) best score among open candidates (nan if none)
    intl_compatible: np.ndarray  # bool (n_intl,) allowed for at least one queried UK school
    intl_eligible: np.ndarray  # bool (n_intl,) eligible for at least one queried UK school

    @property
    def n_edges(self) -> int:
        """Number of candidate pairs."""
        return len(self.src)

    def without(self, keep: np.ndarray) -> CandidateGraph:
        """The same graph with only the edges where ``keep`` is True."""
        return CandidateGraph(
            self.uk_rows, self.intl_rows, self.src[keep], self.dst[keep], self.score[keep], self.top_k,
            self.n_compatible, self.n_open, self.n_eligible, self.best_open, self.intl_compatible, self.intl_eligible,
        )  # fmt: skip


def block_rows(n_cols: int, block_size: int | None = None) -> int:
    """Query rows per block so that one block's pair arrays stay around ``BLOCK_ELEMENTS`` cells."""
    if block_size is not None:
        return max(1, int(block_size))
    return int(max(8, min(4096, BLOCK_ELEMENTS // max(1, n_cols))))


# Rules that depend only on these per-school columns can be evaluated once per distinct signature.
SIGNATURE_RULES = frozenset(
    {"cross_border", "phase_compatible", "ages_overlap", "shared_language", "country_filter", "phase_filter",
     "timezone_filter"}
)  # fmt: skip


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
        self.signature_rules = {n: r for n, r in rules.items() if n in SIGNATURE_RULES}
        self.listed_rules = [n for n in rules if n in LISTED_RULES]
        self.other_rules = {n: r for n, r in rules.items() if n not in SIGNATURE_RULES and n not in LISTED_RULES}
        cols = self._cols = index.cols()
        self.cand_matrix = np.ascontiguousarray(index.matrix[self.intl_rows])
        self.cand_norm = np.linalg.norm(self.cand_matrix, axis=1) if len(self.intl_rows) else np.zeros(0, np.float32)
        self.cand_tz = cols.tz_offset[self.intl_rows]
        self.cand_reps, self.cand_sig = signatures(cols, self.intl_rows)
        self.cand_present = cols.present[self.intl_rows]
        self._tz_rows: dict[float, np.ndarray] = {}
        self._position = np.full(index.n_rows, -1, dtype=np.int64)
        self._position[self.intl_rows] = np.arange(len(self.intl_rows))
        self._coarse: _Coarse | None = None
        self._columns: dict[tuple[int, ...], np.ndarray] = {}

    def columns(self, cols: np.ndarray) -> np.ndarray:
        """The candidates' full rows restricted to ``cols``, contiguous (kept: the groups share a few plans)."""
        key = tuple(np.asarray(cols).tolist())
        cached = self._columns.get(key)
        if cached is None:
            cached = self._columns[key] = np.ascontiguousarray(self.cand_matrix[:, cols])
        return cached

    def coarse_candidates(self) -> _Coarse:
        """A coarse basis for the batch (``CoarseIndex.fit`` with ``BATCH_COARSE_BUDGET`` dimensions: wider than
        the single-query one, so its bounds are tight) and the candidates' coarse rows and residual norms."""
        if self._coarse is None:
            if self.index.n_rows == 0 or len(self.intl_rows) == 0:
                raise MatchingError("no coarse basis for an empty registry")
            coarse = CoarseIndex.fit(self.index, self.scorer.weights, budget=BATCH_COARSE_BUDGET, populate=False)
            self._coarse = (coarse, coarse.project(self.cand_matrix))
        return self._coarse

    # ------------------------------------------------------------ pieces
    def signature_mask(self, uk_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mask, inverse)``: the signature rules between the UK rows' signatures and the candidates'."""
        reps, inverse = signatures(self.index.cols(), uk_rows)
        query = Query.registered(self.index, reps)
        cands = self.index.cols().take(self.cand_reps)
        mask = np.ones((len(reps), len(self.cand_reps)), dtype=bool)
        for rule in self.signature_rules.values():
            mask &= rule(query, cands, self.index)
        return mask, inverse

    def excluded(self, uk_row: int) -> np.ndarray:
        """Positions (in ``intl_rows``) the listing rules and the forbidden pairs rule out for a UK row."""
        rows: list[int] = []
        sid = self._cols.ids[uk_row]
        for name in self.listed_rules:
            forward, backward = LISTED_RULES[name]
            rows += [self.index.row_of[s] for s in getattr(self._cols, forward)[uk_row] if s in self.index.row_of]
            rows += getattr(self.index, backward).get(sid, ())
        extra = self.forbidden.get(int(uk_row))
        if not rows and extra is None:
            return _EMPTY
        pos = self._position[np.array(rows, dtype=np.int64)] if rows else _EMPTY
        pos = pos[pos >= 0]
        if extra is not None:
            pos = np.concatenate([pos, extra])
        return np.unique(pos)

    def timezone(self, tz_query: np.ndarray, cand: np.ndarray | slice = slice(None)) -> np.ndarray:
        """``Scorer.timezone_term`` rows for the queries (computed once per distinct offset)."""
        values, inverse = np.unique(np.asarray(tz_query, dtype=np.float32), return_inverse=True)
        table = []
        for value in values.tolist():
            row = self._tz_rows.get(value)
            if row is None:
                row = self.scorer.timezone_term(np.array([value], dtype=np.float32), self.cand_tz)[0]
                self._tz_rows[value] = row
            table.append(row[cand])
        return np.stack(table)[inverse.reshape(-1)]

    def scores(self, uk_rows: np.ndarray, cand: np.ndarray | slice = slice(None)) -> np.ndarray:
        """``Scorer.scores`` of UK rows against candidates (positions in ``intl_rows``)."""
        q = self.scorer.query_vectors(self.index.matrix[uk_rows])
        matrix = self.cand_matrix if isinstance(cand, slice) else self.cand_matrix[cand]
        out = q @ matrix.T
        tz = self.index.cols().tz_offset[uk_rows]
        if len(np.unique(tz)) == 1:
            out += self.timezone(tz[:1], cand)[0][None, :]
        else:
            out += self.timezone(tz, cand)
        return np.asarray(out, dtype=np.float32)

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
        if self.other_rules:
            query = Query.registered(self.index, uk_rows)
            for rule in self.other_rules.values():
                allowed &= rule(query, self.index.cols(), self.index)[:, self.intl_rows[pick]]
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


@dataclass
class _Stats:
    """Per-school counts filled in while scoring (see ``CandidateGraph``)."""

    n_compatible: np.ndarray
    n_open: np.ndarray
    n_eligible: np.ndarray
    best_open: np.ndarray
    intl_compatible: np.ndarray
    intl_eligible: np.ndarray


class _ColumnTop:
    """Each candidate's best ``k`` UK rows so far, shared by the scoring threads: a dense buffer
    (``top_val``/``top_src``, best first; empty slots are ``-inf``) whose last column is the candidate's
    floor, the k-th best so far, below which no later entry can make the candidate's final list.

    The final lists are the top ``k`` of every entry offered, whatever the order the threads offer them
    in; the floors (read without the lock: they only rise) only decide how much work is skipped."""

    def __init__(self, n_intl: int = 0, k: int = 0) -> None:
        self.k = k
        self.top_val = np.full((n_intl, k), -np.inf, dtype=np.float32)
        self.top_src = np.full((n_intl, k), _NO_SRC, dtype=np.int32)
        self._lock = threading.Lock()

    @property
    def floor(self) -> np.ndarray:
        """Each candidate's k-th best entry so far (``-inf`` until it has k)."""
        return self.top_val[:, -1] if self.k else np.full(len(self.top_val), -np.inf, np.float32)

    def add(self, src: np.ndarray, dst: np.ndarray, val: np.ndarray) -> None:
        """Merge entries into the candidates' running top ``k`` (score descending, then ``src``)."""
        if len(dst) == 0 or self.k == 0:
            return
        src, val = src.astype(np.int32), val.astype(np.float32)
        with self._lock:
            self._merge(src, dst, val)

    def _merge(self, src: np.ndarray, dst: np.ndarray, val: np.ndarray) -> None:
        if np.all(dst[1:] > dst[:-1]):  # one entry per candidate (a large block): insert it in place
            top_val, top_src = self.top_val[dst], self.top_src[dst]
            ahead = (top_val > val[:, None]) | ((top_val == val[:, None]) & (top_src < src[:, None]))
            at = ahead.sum(axis=1)[:, None]  # the buffer is sorted: its entries ahead of the new one come first
            slot = np.arange(self.k)[None, :]
            shifted_val = np.concatenate([top_val[:, :1], top_val[:, :-1]], axis=1)
            shifted_src = np.concatenate([top_src[:, :1], top_src[:, :-1]], axis=1)
            self.top_val[dst] = np.where(slot < at, top_val, np.where(slot == at, val[:, None], shifted_val))
            self.top_src[dst] = np.where(slot < at, top_src, np.where(slot == at, src[:, None], shifted_src))
            return
        k = self.k
        touched = np.unique(dst)
        all_dst = np.concatenate([np.repeat(touched, k), dst])
        all_src = np.concatenate([self.top_src[touched].ravel(), src])
        all_val = np.concatenate([self.top_val[touched].ravel(), val])
        by_src = np.argsort(all_src, kind="stable")
        order = by_src[grouped_best_first(all_dst[by_src], all_val[by_src])]  # by candidate, best first, then src
        counts = np.bincount(np.searchsorted(touched, all_dst), minlength=len(touched))
        starts = np.cumsum(counts) - counts
        take = order[(starts[:, None] + np.arange(k)[None, :]).ravel()]  # every touched candidate has >= k entries
        self.top_val[touched] = all_val[take].reshape(-1, k)
        self.top_src[touched] = all_src[take].reshape(-1, k)

    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The buffer's filled slots as ``(src, dst, val)``."""
        dst, slot = np.nonzero(self.top_val > -np.inf)
        return self.top_src[dst, slot], dst.astype(np.int32), self.top_val[dst, slot]


class _Worker:
    """Scores a fixed list of blocks; keeps its own row edges and scratch arrays (no shared writes except
    disjoint rows of the per-school counts, or-ing booleans, and the locked column buffer)."""

    def __init__(self, columns: _ColumnTop) -> None:
        self.columns = columns
        self.srcs: list[np.ndarray] = []  # rows' top-k edges
        self.dsts: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self._scratch: dict[str, np.ndarray] = {}

    @property
    def floor(self) -> np.ndarray:
        """Each candidate's k-th best column entry so far (``-inf`` until it has k)."""
        return self.columns.floor

    def add_column_entries(self, src: np.ndarray, dst: np.ndarray, val: np.ndarray) -> None:
        """Offer a block's best rows per candidate to the shared column buffer."""
        self.columns.add(src, dst, val)

    def scratch(self, name: str, shape: tuple[int, int]) -> np.ndarray:
        """A reusable float32 array of ``shape`` (a view of a buffer kept between blocks: no page faults)."""
        size = shape[0] * shape[1]
        buf = self._scratch.get(name)
        if buf is None or len(buf) < size:
            buf = self._scratch[name] = np.empty(size, np.float32)
        return buf[:size].reshape(shape)


def build_candidates(
    pairs: PairScorer,
    uk_rows: np.ndarray,
    intl_open: np.ndarray,
    top_k: int,
    min_score: float | None = None,
    block_size: int | None = None,
    progress: bool = True,
    progress_callback: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    n_jobs: int = 1,
    pruned: bool | None = None,
) -> CandidateGraph:
    """The union of every UK row's top-``top_k`` eligible candidates and every candidate's best
    ``top_k`` UK rows among the best row of each block (``intl_open``: candidates with free places).
    ``n_jobs`` threads score blocks side by side (numpy and BLAS release the GIL); the result does not
    depend on the thread timing. ``pruned``: bound every pair on the coarse index first and score
    exactly only the pairs that can matter (the same graph, faster on large cohorts); ``False`` scores
    every allowed pair; ``None`` prunes from ``PRUNE_MIN_PAIRS`` UK x candidate pairs on (if set).
    """
    uk_rows = np.asarray(uk_rows, dtype=np.int64)
    n_uk, n_intl = len(uk_rows), len(pairs.intl_rows)
    intl_open = np.asarray(intl_open, dtype=bool)
    stats = _Stats(
        n_compatible=np.zeros(n_uk, dtype=np.int32),
        n_open=np.zeros(n_uk, dtype=np.int32),
        n_eligible=np.zeros(n_uk, dtype=np.int32),
        best_open=np.full(n_uk, np.nan, dtype=np.float32),
        intl_compatible=np.zeros(n_intl, dtype=bool),
        intl_eligible=np.zeros(n_intl, dtype=bool),
    )
    threshold = np.float32(min_score) if min_score is not None else None
    k_col = int(min(top_k, n_uk))
    if pruned is None:
        pruned = PRUNE_MIN_PAIRS is not None and n_uk * n_intl >= PRUNE_MIN_PAIRS
    coarse = pairs.coarse_candidates() if pruned and n_uk and n_intl else None
    tasks: list[tuple[_Group, np.ndarray]] = []
    for members, pattern in pairs.groups(uk_rows) if n_uk else []:
        step = block_rows(int(np.bincount(pairs.cand_sig, minlength=len(pattern))[pattern].sum()), block_size)
        blocks = np.array_split(members, -(-len(members) // step))  # equal sizes: no small last block
        group = _Group(pattern, len(blocks), intl_open, int(top_k), uk_rows[members], coarse)
        tasks += [(group, block) for block in blocks]
    n_jobs = max(1, min(int(n_jobs), len(tasks)))
    # groups with large blocks first (their best rows raise the column floors early); a group's blocks stay
    # together, so only the groups being scored hold their candidates' rows
    first_block = {id(group): len(block) for group, block in reversed(tasks)}
    tasks.sort(key=lambda task: -first_block[id(task[0])])
    columns = _ColumnTop(n_intl, k_col)
    workers = [_Worker(columns) for _ in range(n_jobs)]
    bar = tqdm(total=n_uk, desc="Scoring candidates", unit="school", disable=not progress or n_uk == 0)
    lock = threading.Lock()
    done = [0]
    cancelled = threading.Event()

    def run(w: int) -> None:
        worker = workers[w]
        for group, pos in tasks[w::n_jobs]:  # a fixed share: the result is independent of timing
            if cancelled.is_set() or (should_cancel is not None and should_cancel()):
                cancelled.set()
                return
            state = group.acquire(pairs)
            _score_block(pairs, uk_rows, state, pos, int(top_k), k_col, threshold, stats, worker)
            del state
            group.release()
            with lock:
                done[0] += len(pos)
                bar.update(len(pos))
                if progress_callback is not None:
                    progress_callback("candidates", done[0], n_uk)

    try:
        if n_jobs == 1:
            run(0)
        else:
            with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(n_jobs) as pool:
                list(pool.map(run, range(n_jobs)))
    finally:
        bar.close()
    if cancelled.is_set():
        raise BatchCancelled("batch matching cancelled while scoring candidates")
    col_src, col_dst, col_val = columns.entries()
    srcs = [a for w in workers for a in w.srcs] + [col_src]
    dsts = [a for w in workers for a in w.dsts] + [col_dst]
    vals = [a for w in workers for a in w.vals] + [col_val]
    src, dst, score = np.concatenate(srcs), np.concatenate(dsts), np.concatenate(vals)
    order = edge_order(src, dst, score, n_intl, unique=True)  # the union, once each; by UK school, best first
    return CandidateGraph(
        uk_rows=uk_rows,
        intl_rows=pairs.intl_rows,
        src=src[order],
        dst=dst[order],
        score=score[order],
        top_k=int(top_k),
        n_compatible=stats.n_compatible,
        n_open=stats.n_open,
        n_eligible=stats.n_eligible,
        best_open=stats.best_open,
        intl_compatible=stats.intl_compatible,
        intl_eligible=stats.intl_eligible,
    )


class _GroupState:
    """A group's candidates, the open ones, local positions, and the matrix the bounds are computed on.

    The matrix holds the open candidates' rows (full rows, or their coarse rows on the pruned path)
    restricted to the columns where the group's query vectors differ, plus one column with all the
    queries share (the shared columns' product, and the time-zone term when they share an offset): a
    query meets it with a 1. So the product is narrower (a UK group shares country, phase and ages:
    about 80 of 536 columns) and needs no time-zone pass. Rows are padded with zeros up to
    ``chunk_len * n_chunks`` (``_chunking``): a block's scores then view as ``(rows, chunk_len,
    n_chunks)``, chunk ``c`` being the candidates ``c, c + n_chunks, ...``."""

    def __init__(
        self, pairs: PairScorer, pattern: np.ndarray, intl_open: np.ndarray, top_k: int, member_rows: np.ndarray,
        coarse: _Coarse | None = None,
    ) -> None:  # fmt: skip
        n_intl = len(pairs.intl_rows)
        self.pairs = pairs
        self.cand = pairs.candidates(pattern)
        self.cand_open = self.cand[intl_open[self.cand]]
        self.local_all = np.full(n_intl, -1, dtype=np.int64)
        self.local_all[self.cand] = np.arange(len(self.cand))
        self.local_open = np.full(n_intl, -1, dtype=np.int64)
        self.local_open[self.cand_open] = np.arange(len(self.cand_open))
        n = len(self.cand_open)
        self.coarse = coarse[0] if coarse is not None else None
        self.chunk_len, self.n_chunks = _chunking(n, top_k)
        n_pad = self.chunk_len * self.n_chunks
        self.residual: np.ndarray | None = None
        if coarse is None:
            sources = [(pairs.cand_matrix[self.cand_open], None)]
        else:
            self.coarse_cols, self.exact_cols, self.coarse_blocks = _block_plan(pairs, coarse[0], member_rows)
            sources = [(coarse[1]["data"][self.cand_open], self.coarse_cols)]
            if len(self.exact_cols):
                sources.append((pairs.columns(self.exact_cols)[self.cand_open], None))
            if len(self.coarse_blocks):
                self.residual = np.zeros((n_pad, len(self.coarse_blocks)), np.float32)
                self.residual[:n] = coarse[1]["residual"][self.cand_open][:, self.coarse_blocks]
        first = self.project(pairs.scorer.query_vectors(pairs.index.matrix[member_rows[:1]]))[0][0]
        self.varying, self.shared, self.tz_folded = _shared_columns(self, member_rows)
        shared_rows = _gather_columns(sources, self.shared)
        offset = shared_rows @ first[self.shared]
        if self.tz_folded:
            offset += pairs.timezone(pairs._cols.tz_offset[member_rows[:1]], self.cand_open)[0]
        self.matrix = np.zeros((n_pad, len(self.varying) + 1), np.float32)
        _gather_columns(sources, self.varying, out=self.matrix[:n, :-1])
        del sources
        self.matrix[:n, -1] = offset
        self.norm = float(np.sqrt(np.einsum("ij,ij->i", self.matrix, self.matrix).max())) if n else 0.0
        # the shared product is rounded once more (float32 product, then the time-zone term added)
        shared_norm = float(np.sqrt(np.einsum("ij,ij->i", shared_rows, shared_rows).max())) if n else 0.0
        self.offset_error = _rounding_bound(len(self.shared), float(np.linalg.norm(first[self.shared])), shared_norm)
        self.offset_error += 2.0**-22 * (float(np.abs(offset).max()) if n else 0.0)

    def project(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Query vectors in the matrix's space (full, or coarse rows and residual norms)."""
        if self.coarse is None:
            return q, None
        parts = self.coarse.project(q)
        data = np.concatenate([parts["data"][:, self.coarse_cols], q[:, self.exact_cols]], axis=1)
        return data, (parts["residual"][:, self.coarse_blocks] if self.residual is not None else None)

    def query(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Block query vectors for ``matrix`` (the varying columns, then 1) and, pruned, their residual norms."""
        data, residual = self.project(q)
        out = np.ones((len(q), len(self.varying) + 1), np.float32)
        out[:, :-1] = data[:, self.varying]
        return out, residual


def _gather_columns(
    sources: list[tuple[np.ndarray, np.ndarray | None]], cols: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Columns ``cols`` of the side-by-side concatenation of ``sources`` (each an array, with the columns of it
    that count, ``None``: all), without building the concatenation, into ``out`` if given. Copied in runs
    of consecutive columns (slices copy several times faster than a fancy index along the second axis)."""
    taken = []
    at = 0
    for array, pick in sources:
        width = array.shape[1] if pick is None else len(pick)
        mine = cols[(cols >= at) & (cols < at + width)] - at
        taken.append((array, mine if pick is None else pick[mine]))
        at += width
    n_rows = len(sources[0][0])
    if out is None:
        out = np.empty((n_rows, sum(len(c) for _, c in taken)), np.float32)
    at = 0
    for array, c in taken:
        breaks = np.flatnonzero(np.diff(c) != 1) + 1
        for run in np.split(c, breaks) if len(c) else []:
            out[:, at : at + len(run)] = array[:, run[0] : run[-1] + 1]
            at += len(run)
    return out


def _query_range(
    pairs: PairScorer, member_rows: np.ndarray, project: Callable[[np.ndarray], np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Column-wise minimum and maximum of the members' query vectors (``project``-ed if given), in chunks."""
    lo = hi = None
    for start in range(0, len(member_rows), 8192):
        q = pairs.scorer.query_vectors(pairs.index.matrix[member_rows[start : start + 8192]])
        q = project(q) if project is not None else q
        lo = q.min(axis=0) if lo is None else np.minimum(lo, q.min(axis=0))
        hi = q.max(axis=0) if hi is None else np.maximum(hi, q.max(axis=0))
    assert lo is not None and hi is not None  # a group has members
    return lo, hi


def _block_plan(
    pairs: PairScorer, coarse: CoarseIndex, member_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(coarse columns, exact columns, coarse blocks)``: which feature blocks a group bounds on the coarse
    basis and which it takes exactly (full columns, no residual). A block is taken exactly when the members'
    query vectors differ in no more of its full columns than it has coarse dimensions: the shared columns
    fold into one (``_shared_columns``), so the product is no wider and that block's bound is exact (a UK
    group differs in 2 of the 64 country columns: 2 exact columns instead of 37 coarse ones and a residual)."""
    lo, hi = _query_range(pairs, member_rows)
    varies = lo != hi
    coarse_cols: list[np.ndarray] = []
    exact_cols: list[np.ndarray] = []
    coarse_blocks: list[int] = []
    col = 0
    for j, (name, block) in enumerate(coarse.blocks.items()):
        width = coarse.bases[name].shape[1]
        if int(np.count_nonzero(varies[block])) <= width:
            exact_cols.append(np.arange(block.start, block.stop))
        else:
            coarse_cols.append(np.arange(col, col + width))
            coarse_blocks.append(j)
        col += width
    coarse_cols.append(np.arange(col, coarse.width))  # the pair columns: exact in the coarse rows too
    return np.concatenate(coarse_cols), np.concatenate(exact_cols or [_EMPTY]), np.array(coarse_blocks, np.int64)


def _shared_columns(group: _GroupState, member_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(varying, shared, tz_shared)``: columns where the members' (projected) query vectors differ / are
    all equal, and whether they all share one UTC offset."""
    pairs = group.pairs
    lo, hi = _query_range(pairs, member_rows, lambda q: group.project(q)[0])
    same = lo == hi
    tz = pairs._cols.tz_offset[member_rows]
    return np.flatnonzero(~same), np.flatnonzero(same), bool(np.all(tz == tz[0]))


def _chunking(n: int, top_k: int) -> tuple[int, int]:
    """``(chunk_len, n_chunks)`` covering ``n`` candidates, with at least ``2 * top_k`` chunks (or one
    candidate per chunk): a row's k-th best chunk maximum bounds its k-th best score from below."""
    chunk_len = int(max(1, min(CHUNK_LEN, n // max(1, 2 * top_k))))
    return chunk_len, -(-n // chunk_len)


class _Group:
    """UK rows sharing one set of allowed candidates. Its state (candidate rows gathered once) is built
    by the first block that needs it and dropped after its last block, so memory holds only the groups
    being scored."""

    def __init__(
        self, pattern: np.ndarray, n_blocks: int, intl_open: np.ndarray, top_k: int, member_rows: np.ndarray,
        coarse: _Coarse | None = None,
    ) -> None:  # fmt: skip
        self.pattern = pattern
        self.top_k = top_k
        self.member_rows = member_rows
        self.coarse = coarse
        self.remaining = n_blocks
        self.intl_open = intl_open
        self._state: _GroupState | None = None
        self._lock = threading.Lock()

    def acquire(self, pairs: PairScorer) -> _GroupState:
        """The group's state, built on first use."""
        with self._lock:
            if self._state is None:
                self._state = _GroupState(
                    pairs, self.pattern, self.intl_open, self.top_k, self.member_rows, self.coarse
                )
            return self._state

    def release(self) -> None:
        """One block done; the last one drops the state."""
        with self._lock:
            self.remaining -= 1
            if self.remaining <= 0:
                self._state = None


def _score_block(
    pairs: PairScorer,
    uk_rows: np.ndarray,
    group: _GroupState,
    pos: np.ndarray,
    top_k: int,
    k_col: int,
    threshold: np.float32 | None,
    stats: _Stats,
    worker: _Worker,
) -> None:
    """Score one block of UK rows against its group's candidates; record counts, row top-k, column top-k.

    Bounds first, exact scores after: every pair gets a centre and a slack that bracket its exact
    score (``exact_pair_scores``); the exact path takes the float32 product as centre (slack: its
    rounding error), the pruned path the coarse product (slack: residual norms, Cauchy-Schwarz).
    Pairs that could reach a row's top k, a column's best rows or the minimum score are re-scored
    exactly; every choice is made on exact scores with ties broken by position, so both paths give
    the same graph.
    """
    rows = uk_rows[pos]
    b = len(rows)
    cand, cand_open = group.cand, group.cand_open
    hits_all = np.zeros(b, dtype=np.int64)
    hits_open = np.zeros(b, dtype=np.int64)
    blocked = np.zeros(len(cand), dtype=np.int64)  # rows of the block excluding each candidate
    excluded_rows: list[np.ndarray] = []
    excluded_cols: list[np.ndarray] = []
    for i, row in enumerate(rows.tolist()):
        ex = pairs.excluded(row)
        if len(ex):
            la, lo = group.local_all[ex], group.local_open[ex]
            la, lo = la[la >= 0], lo[lo >= 0]
            hits_all[i], hits_open[i] = len(la), len(lo)
            blocked[la] += 1
            excluded_rows.append(np.full(len(lo), i))
            excluded_cols.append(lo)
    stats.n_compatible[pos] = len(cand) - hits_all
    stats.n_open[pos] = len(cand_open) - hits_open
    stats.intl_compatible[cand[blocked < b]] = True
    n = len(cand_open)
    if n == 0:
        return
    q = pairs.scorer.query_vectors(pairs.index.matrix[rows])
    tz = pairs._cols.tz_offset[rows]
    tz_term = pairs.timezone(tz, cand_open) if len(np.unique(tz)) > 1 else pairs.timezone(tz[:1], cand_open)
    excluded = (np.concatenate(excluded_rows), np.concatenate(excluded_cols)) if excluded_rows else None
    n_best = b if b <= k_col else (k_col if b <= 4 * k_col else 1)  # each candidate's best rows kept per block
    i, j, lo, n_sure, col_sure = _bound(q, tz_term, group, excluded, top_k, k_col, n_best, threshold, worker)
    if threshold is None and excluded is not None:  # every non-excluded pair is eligible
        n_sure = n - hits_open
        col_sure = np.bincount(excluded[1], minlength=n) < b
    c = exact_pair_scores(q, pairs.cand_matrix, tz_term, i, j, cand_open)
    # counts
    if threshold is not None:
        extra = (c >= threshold) & (lo < threshold)  # eligible pairs the bounds left undecided
        n_sure = n_sure + np.bincount(i[extra], minlength=b)
        col_sure = col_sure.copy()
        col_sure[j[extra]] = True
    stats.n_eligible[pos] = n_sure
    stats.intl_eligible[cand_open[col_sure]] = True
    # rows: exact top k (score descending, then position), then the minimum score
    order = grouped_best_first(i, c)  # the pairs come sorted by (i, j): ties stay in position order
    rank = _rank_within(i[order], b)
    first = order[rank == 0]
    best = np.full(b, np.nan, np.float32)
    best[i[first]] = c[first]
    stats.best_open[pos] = best
    top = order[rank < min(top_k, n)]
    keep = top[c[top] >= threshold] if threshold is not None else top
    keep = keep[np.argsort(i[keep], kind="stable")]
    worker.srcs.append(pos[i[keep]].astype(np.int32))
    worker.dsts.append(cand_open[j[keep]].astype(np.int32))
    worker.vals.append(c[keep].astype(np.float32))
    if k_col > 0:  # each candidate's best rows of this block: its list of UK schools, across blocks
        order = grouped_best_first(j, c)
        rank = _rank_within(j[order], n)
        top = order[rank < n_best]
        ok = top[c[top] >= worker.floor[cand_open[j[top]]]]
        ok = ok[c[ok] >= threshold] if threshold is not None else ok
        worker.add_column_entries(pos[i[ok]], cand_open[j[ok]], c[ok])


_Bounds = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""``(i, j, lo, n_sure, col_sure)``: the pairs to score exactly, their lower bounds, and per row / column the
pairs (any pair) sure to pass the minimum score (everything when there is none)."""


def _bound(
    q: np.ndarray, tz_term: np.ndarray, group: _GroupState, excluded: tuple[np.ndarray, np.ndarray] | None,
    top_k: int, k_col: int, n_best: int, threshold: np.float32 | None, worker: _Worker,
) -> _Bounds:  # fmt: skip
    """Bounds ``L - eps <= exact <= H + eps`` for the block, and the pairs they cannot rule out.

    Exact path: ``L = H`` = the float32 product (``eps``: its rounding error). Pruned path: the coarse
    product minus / plus the residual norms' product (Cauchy-Schwarz); ``eps`` adds its rounding.
    Rows: the k-th best *chunk maximum* of ``L`` is at most the row's k-th best lower bound, so only the
    chunks whose maximum of ``H`` reaches it (less ``2 eps``) are opened. Columns: one maximum per
    column; only the columns whose maximum of ``H`` reaches both the candidate's floor (its k-th best
    entry so far) and the block's best lower bound are opened. Few passes over the block in all.
    """
    b, n = len(q), len(group.cand_open)
    cand_open = group.cand_open
    qg, q_residual = group.query(q)
    err = _rounding_bound(qg.shape[1], float(np.linalg.norm(qg, axis=1).max()), group.norm) + group.offset_error
    if group.coarse is not None:
        err += COARSE_TOLERANCE  # also covers the rounding of the residual product
    eps = np.float32(err)
    lowest = np.float32(np.finfo(np.float32).min)  # cut-offs never below it: excluded pairs (-inf) never pass
    shape = (b, len(group.matrix))  # (b, chunk_len * n_chunks): the padding columns are set to -inf
    high = np.matmul(qg, group.matrix.T, out=worker.scratch("high", shape))
    if not group.tz_folded:
        high[:, :n] += tz_term
    high[:, n:] = -np.inf
    if excluded is not None:
        high[excluded] = -np.inf
    if group.residual is not None:
        if group.residual.shape[1] == 1:  # one coarse block: an outer product (matmul with one term is slow)
            slack = np.multiply(q_residual, group.residual[:, 0], out=worker.scratch("slack", shape))
        else:
            slack = np.matmul(q_residual, group.residual.T, out=worker.scratch("slack", shape))
        low = np.subtract(high, slack, out=worker.scratch("low", shape))
        high += slack
    else:
        low = high
    low_view, high_view = low[:, :n], high[:, :n]
    parts_i: list[np.ndarray] = []
    parts_j: list[np.ndarray] = []
    # rows: a superset of each row's exact top k
    k = min(max(top_k, 1), n)  # k >= 1: the row's best is always re-scored (best_open)
    m, length = group.n_chunks, group.chunk_len
    if k < n:
        low_chunks = low.reshape(b, length, m).max(axis=1)
        high_chunks = low_chunks if low is high else high.reshape(b, length, m).max(axis=1)
        cut = np.maximum(np.partition(low_chunks, m - k, axis=1)[:, m - k] - 2 * eps, lowest)
        ci, cc = _nonzero(high_chunks >= cut[:, None])
        cols = cc[:, None] + m * np.arange(length)[None, :]
        hit = high[ci[:, None], cols] >= cut[ci][:, None]
        parts_i.append(np.broadcast_to(ci[:, None], hit.shape)[hit])
        parts_j.append(cols[hit])
    else:
        ri, rj = _nonzero(high_view > -np.inf)
        parts_i.append(ri)
        parts_j.append(rj)
    # columns: a superset of each column's best n_best rows that can still make its list
    if k_col > 0:
        col_high = high_view.max(axis=0)
        if n_best >= b:
            col_cut = np.full(n, lowest, np.float32)
        elif n_best > 1:
            col_cut = np.partition(low_view, b - n_best, axis=0)[b - n_best] - 2 * eps
        else:
            col_cut = (col_high if low is high else low_view.max(axis=0)) - 2 * eps
        col_cut = np.maximum(col_cut, worker.floor[cand_open] - eps)
        if threshold is not None:
            col_cut = np.maximum(col_cut, threshold - eps)
        col_cut = np.maximum(col_cut, lowest)
        opened = col_high >= col_cut
        n_opened = int(np.count_nonzero(opened))
        if n_opened > n // 4:  # many: one pass over the block, the closed columns cut at +inf (no gather)
            hi, hj = _nonzero(high_view >= np.where(opened, col_cut, np.float32(np.inf))[None, :])
            parts_i.append(hi)
            parts_j.append(hj)
        elif n_opened:
            open_cols = np.flatnonzero(opened)
            hi, hj = _nonzero(high_view[:, open_cols] >= col_cut[open_cols][None, :])
            parts_i.append(hi)
            parts_j.append(open_cols[hj])
    # the minimum score: pairs sure to pass are counted, undecided ones re-scored
    if threshold is not None:
        sure = low_view >= threshold + eps
        n_sure, col_sure = sure.sum(axis=1), sure.any(axis=0)
        ui, uj = _nonzero((high_view >= threshold - eps) & ~sure)
        del sure
        parts_i.append(ui)
        parts_j.append(uj)
    else:
        n_sure, col_sure = np.full(b, n), np.ones(n, dtype=bool)
    key = np.concatenate(parts_i).astype(np.int64) * n + np.concatenate(parts_j)
    if len(key) > b * n // 32:  # many pairs (early column floors): mark them rather than sort them
        marked = np.zeros(b * n, dtype=bool)
        marked[key] = True
        key = np.flatnonzero(marked)
    else:
        key = np.unique(key)
    i, j = key // n, key % n
    return i, j, low[i, j] - eps, n_sure, col_sure


def _nonzero(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-d mask, through the flat indices (about 10x faster on large sparse masks)."""
    flat = np.flatnonzero(mask)
    return flat // mask.shape[1], flat % mask.shape[1]


def _rank_within(sorted_keys: np.ndarray, n_keys: int) -> np.ndarray:
    """Rank of each entry among the entries with the same key (``sorted_keys`` sorted)."""
    counts = np.bincount(sorted_keys, minlength=n_keys)
    return np.arange(len(sorted_keys)) - np.repeat(np.cumsum(counts) - counts, counts)


def descending_key(score: np.ndarray) -> np.ndarray:
    """int64 sort keys of float32 scores: ascending keys = descending scores (``-0.0`` equals ``0.0``)."""
    bits = (np.asarray(score, dtype=np.float32) + np.float32(0)).view(np.uint32).astype(np.int64)
    ascending = np.where(bits >= 1 << 31, (1 << 32) - 1 - bits, bits | (1 << 31))  # orders like the floats
    return (1 << 32) - 1 - ascending


def grouped_best_first(owner: np.ndarray, score: np.ndarray) -> np.ndarray:
    """The order that groups entries by ``owner`` (ascending) and puts each group's best scores first; ties
    keep their input order. Same as ``np.lexsort((-score, owner))`` with a stable tie order, one integer sort
    (``owner`` below 2**31)."""
    key = (np.asarray(owner, dtype=np.int64) << 32) | descending_key(score)
    return np.argsort(key, kind="stable")


def edge_order(src: np.ndarray, dst: np.ndarray, score: np.ndarray, n_dst: int, unique: bool = False) -> np.ndarray:
    """Edge positions ordered by ``src``, score descending, then ``dst``; ``unique``: the first occurrence
    of each ``(src, dst)`` only."""
    pair = np.asarray(src, dtype=np.int64) * max(1, n_dst) + dst
    by_pair = np.argsort(pair, kind="stable")
    if unique and len(by_pair):
        sorted_pair = pair[by_pair]
        first = np.ones(len(by_pair), dtype=bool)
        first[1:] = sorted_pair[1:] != sorted_pair[:-1]
        by_pair = by_pair[first]
    return by_pair[grouped_best_first(src[by_pair], score[by_pair])]


def score_order(src: np.ndarray, dst: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Edge positions by score descending, then ``src``, then ``dst`` (the greedy baseline's order)."""
    by_pair = np.argsort(np.asarray(src, dtype=np.int64) * (int(np.max(dst, initial=0)) + 1) + dst, kind="stable")
    return by_pair[np.argsort(descending_key(score[by_pair]), kind="stable")]


def _rounding_bound(width: int, q_norm: float, cand_norm: float) -> float:
    """A bound on the float32 rounding error of dot products of ``width`` terms (|q| |x| (width + 4) 2^-23)."""
    return (width + 4) * 2.0**-23 * q_norm * cand_norm + 1e-6


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


def pair_scores(scorer: Scorer, query_rows: np.ndarray, cand_rows: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """Score of ``cand_rows[i]`` for the query ``query_rows[i]``, pair by pair (``Scorer.scores``'s diagonal)."""
    index = scorer.index
    query_rows = np.asarray(query_rows, dtype=np.int64)
    cand_rows = np.asarray(cand_rows, dtype=np.int64)
    out = np.zeros(len(query_rows), dtype=np.float32)
    tz = index.cols().tz_offset
    for start in range(0, len(query_rows), chunk):
        a, b = query_rows[start : start + chunk], cand_rows[start : start + chunk]
        q = scorer.query_vectors(index.matrix[a])
        dots = np.einsum("ij,ij->i", q, index.matrix[b])
        out[start : start + chunk] = dots + _timezone_pairs(scorer, tz[a], tz[b])
    return out


def _timezone_pairs(scorer: Scorer, tz_a: np.ndarray, tz_b: np.ndarray) -> np.ndarray:
    """``Scorer.timezone_term`` pair by pair (grouped by the query's offset: few distinct values)."""
    out = np.zeros(len(tz_a), dtype=np.float32)
    for value in np.unique(tz_a):
        sel = tz_a == value
        out[sel] = scorer.timezone_term(np.array([value], dtype=np.float32), tz_b[sel])[0]
    return out


def pair_contributions(scorer: Scorer, query_rows: np.ndarray, cand_rows: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """``Scorer.contributions`` pair by pair: ``(len(pairs), len(COMPONENTS))``, rows add up to the score."""
    index = scorer.index
    query_rows = np.asarray(query_rows, dtype=np.int64)
    cand_rows = np.asarray(cand_rows, dtype=np.int64)
    out = np.zeros((len(query_rows), len(COMPONENTS)), dtype=np.float32)
    if len(query_rows) == 0:
        return out
    tz = index.cols().tz_offset
    for start in range(0, len(query_rows), chunk):  # chunks: two (chunk, D) arrays at a time
        a, b = query_rows[start : start + chunk], cand_rows[start : start + chunk]
        q = scorer.query_vectors(index.matrix[a])
        x = index.matrix[b]
        for j, name in enumerate(COMPONENTS):
            if name == "timezone_overlap":
                out[start : start + chunk, j] = _timezone_pairs(scorer, tz[a], tz[b])
            else:
                s = scorer.component_slices[name]
                out[start : start + chunk, j] = np.einsum("ij,ij->i", x[:, s], q[:, s])
    return out
