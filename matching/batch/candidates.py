"""The sparse candidate graph of a batch: each school's top-K allowed partners on the other side.

Built in blocks of UK rows from the core: ``ConstraintSet.allowed`` (hard constraints) and
``Scorer``'s scores (bounds from one matrix product per block, ``matching.batch.bounds``, then exact
scores for the pairs the bounds cannot rule out, see ``_score_block``): each UK row keeps its K best
eligible candidates, and each school abroad keeps its K best UK schools among the best of each block
of UK rows (the block's top K when blocks are small, else its best row, enough to make every school
abroad reachable); the graph is the union. Ties are broken by position, so the graph is the same
whichever bounds are used (``pruned``: the coarse index, else the exact float32 product). (Keeping one
side's lists only misses the schools abroad that are nobody's top K, and with them much of the optimum: popular
schools fill up, the rest stay unseen.)

The graph (``matching.batch.graph.CandidateGraph``) is three aligned arrays ``(src, dst, score)`` over
local indices (``src`` into ``uk_rows``, ``dst`` into ``intl_rows``), plus per-school counts that explain
later why a school was left unmatched.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from matching.batch.bounds import GroupState, bound_block
from matching.batch.graph import CandidateGraph, edge_order, grouped_best_first
from matching.batch.options import BatchCancelled, CancelCheck, ProgressCallback
from matching.batch.pairs import Coarse, PairScorer, exact_pair_scores

__all__ = ["BLOCK_ELEMENTS", "PRUNE_MIN_PAIRS", "block_rows", "build_candidates"]

BLOCK_ELEMENTS = 1 << 23  # about 8M pair cells per block (32 MiB per float32 array)
# Pruned candidate scoring by default from this many UK x candidate pairs on (None: only when asked). Measured
# (docs/readme/30-batch-matching.md): with the batch's wider coarse basis the pruned path gives the same graph
# faster at 20k and 100k a side; below a few million pairs the exact product is cheap and needs no basis.
PRUNE_MIN_PAIRS: int | None = 50_000_000
_NO_SRC = np.iinfo(np.int32).max  # an empty slot of a column buffer: sorts after every row


def block_rows(n_cols: int, block_size: int | None = None) -> int:
    """Query rows per block so that one block's pair arrays stay around ``BLOCK_ELEMENTS`` cells."""
    if block_size is not None:
        return max(1, int(block_size))
    return int(max(8, min(4096, BLOCK_ELEMENTS // max(1, n_cols))))


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


class _Group:
    """UK rows sharing one set of allowed candidates. Its state (candidate rows gathered once) is built
    by the first block that needs it and dropped after its last block, so memory holds only the groups
    being scored."""

    def __init__(
        self, pattern: np.ndarray, n_blocks: int, intl_open: np.ndarray, top_k: int, member_rows: np.ndarray,
        coarse: Coarse | None = None,
    ) -> None:  # fmt: skip
        self.pattern = pattern
        self.top_k = top_k
        self.member_rows = member_rows
        self.coarse = coarse
        self.remaining = n_blocks
        self.intl_open = intl_open
        self._state: GroupState | None = None
        self._lock = threading.Lock()

    def acquire(self, pairs: PairScorer) -> GroupState:
        """The group's state, built on first use."""
        with self._lock:
            if self._state is None:
                self._state = GroupState(pairs, self.pattern, self.intl_open, self.top_k, self.member_rows, self.coarse)
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
    group: GroupState,
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
    tz = pairs.cols.tz_offset[rows]
    tz_term = pairs.timezone(tz, cand_open) if len(np.unique(tz, axis=0)) > 1 else pairs.timezone(tz[:1], cand_open)
    excluded = (np.concatenate(excluded_rows), np.concatenate(excluded_cols)) if excluded_rows else None
    n_best = b if b <= k_col else (k_col if b <= 4 * k_col else 1)  # each candidate's best rows kept per block
    i, j, lo, n_sure, col_sure = bound_block(q, tz_term, group, excluded, top_k, k_col, n_best, threshold, worker)
    if threshold is None and excluded is not None:  # every non-excluded pair is eligible
        n_sure = n - hits_open
        col_sure = np.bincount(excluded[1], minlength=n) < b
    c = pairs.finish(rows[i], cand_open[j], exact_pair_scores(q, pairs.cand_matrix, tz_term, i, j, cand_open))
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


def _rank_within(sorted_keys: np.ndarray, n_keys: int) -> np.ndarray:
    """Rank of each entry among the entries with the same key (``sorted_keys`` sorted)."""
    counts = np.bincount(sorted_keys, minlength=n_keys)
    return np.arange(len(sorted_keys)) - np.repeat(np.cumsum(counts) - counts, counts)
