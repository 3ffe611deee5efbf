"""The coarse first pass: a reduced copy of the candidate matrix with exact error bounds, and BLAS thread limits."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from matching.core.columns import N_PAIR_COLUMNS, N_TERMS, PHASE_CODE

if TYPE_CHECKING:
    from matching.core.index import SchoolIndex

COARSE_MIN_ROWS = 4096  # below this many rows an exact scan is as fast as the coarse first pass


@cache
def _blas_controller() -> object:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


_PROCESS_SINGLE_THREADED = [False]  # set by ``process_blas_threads(1)``: the per-block limit is then a no-op


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the block with BLAS on one thread: a request's products are small, and on a shared CPU
    a second BLAS thread mostly waits (a 100k-row product was up to 4x slower with two). Free when the
    whole process is pinned (``process_blas_threads``); otherwise setting the limit costs ~0.1 ms."""
    if _PROCESS_SINGLE_THREADED[0]:
        yield
        return
    with _blas_controller().limit(limits=1, user_api="blas"):  # type: ignore[attr-defined]
        yield


@contextmanager
def process_blas_threads(threads: int) -> Iterator[None]:
    """Limit BLAS/OpenMP threads for the whole process while the block runs (a service worker's lifetime)."""
    limits = _blas_controller().limit(limits=threads)  # type: ignore[attr-defined]
    _PROCESS_SINGLE_THREADED[0] = threads == 1
    try:
        yield
    finally:
        _PROCESS_SINGLE_THREADED[0] = False
        limits.restore_original_limits()


def _block_bases(
    sample: np.ndarray, blocks: Mapping[str, slice], weights: Mapping[str, float], budget: int
) -> dict[str, np.ndarray]:
    """Per-block orthonormal bases: top eigenvectors of each block's second moment on ``sample``.

    ``budget`` dimensions are shared out greedily, one at a time, to the block whose weighted
    residual energy (the expected size of the error bound) they reduce most.
    """
    eig: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, s in blocks.items():
        x = sample[:, s].astype(np.float64)
        values, vectors = np.linalg.eigh(x.T @ x)
        order = np.argsort(values)[::-1]
        values = np.clip(values[order], 0.0, None)
        total = float(values.sum()) or 1.0
        residual = np.concatenate([[1.0], np.clip(1.0 - np.cumsum(values) / total, 0.0, None)])  # [r]: r dims kept
        eig[name] = (vectors[:, order], residual)
    dims = dict.fromkeys(blocks, 0)
    for _ in range(budget):
        best, gain = None, 0.0
        for name, (_, residual) in eig.items():
            r = dims[name]
            if r + 1 < len(residual):
                g = float(weights.get(name, 1.0)) * (residual[r] - residual[r + 1])
                if g > gain:
                    best, gain = name, g
        if best is None:
            break
        dims[best] += 1
    return {name: np.ascontiguousarray(eig[name][0][:, : dims[name]], dtype=np.float32) for name in blocks}


_SEGMENT_ARRAYS = ("data", "residual", "tz", "rows")
_COLUMN_ARRAYS = ("data", "residual")  # stored one column per slot


@dataclass
class _Segment:
    """The coarse rows of one side (abroad or UK); ``rows[i] == -1`` marks a dead slot."""

    data: np.ndarray  # (width, cap) float32, one column per slot: projected feature blocks, then the pair columns
    residual: np.ndarray  # (n_blocks, cap) float32, one column per slot: norm of each block's part outside its basis
    tz: np.ndarray  # (cap,) int16: code of the UTC offsets per term (a row of ``CoarseIndex.tz_values``)
    rows: np.ndarray  # (cap,) int64 index rows
    size: int = 0

    @classmethod
    def empty(cls, width: int, n_blocks: int) -> _Segment:
        return cls(
            np.zeros((width, 0), np.float32), np.zeros((n_blocks, 0), np.float32),
            np.zeros(0, np.int16), np.zeros(0, np.int64),
        )  # fmt: skip

    def append(self, parts: Mapping[str, np.ndarray]) -> np.ndarray:
        """Append rows (one array per name in ``_SEGMENT_ARRAYS``); returns their positions."""
        need = self.size + len(parts["rows"])
        if need > len(self.rows):
            cap = max(need, int(len(self.rows) * 1.5) + 16)
            for name in _SEGMENT_ARRAYS:
                old = getattr(self, name)
                if name in _COLUMN_ARRAYS:
                    grown = np.zeros((old.shape[0], cap), dtype=old.dtype)
                    grown[:, : self.size] = old[:, : self.size]
                else:
                    grown = np.zeros(cap, dtype=old.dtype)
                    grown[: self.size] = old[: self.size]
                setattr(self, name, grown)
        pos = np.arange(self.size, need)
        self.set(pos, parts)
        self.size = need
        return pos

    def set(self, pos: np.ndarray, parts: Mapping[str, np.ndarray]) -> None:
        """Write rows at ``pos`` (arrays named as in ``_SEGMENT_ARRAYS``, given one row per slot)."""
        for name in _SEGMENT_ARRAYS:
            if name in _COLUMN_ARRAYS:
                getattr(self, name)[:, pos] = parts[name].T
            elif name in parts:
                getattr(self, name)[pos] = parts[name]

    def product(self, qc: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
        """``qc @ data`` over the live slots, reading only the column ranges ``spans`` (where ``qc`` is not 0)."""
        n = self.size
        if not spans:
            return np.zeros(n, np.float32)
        (a, b), *rest = spans
        out = qc[a:b] @ self.data[a:b, :n]
        for a, b in rest:
            out += qc[a:b] @ self.data[a:b, :n]
        return out

    def kill(self, pos: int) -> None:
        self.data[:, pos] = 0.0
        self.residual[:, pos] = 0.0
        self.rows[pos] = -1


def nonzero_spans(v: np.ndarray, min_gap: int = 4) -> list[tuple[int, int]]:
    """Ranges ``[a, b)`` covering every nonzero entry of ``v``; a run of zeros shorter than ``min_gap`` stays
    inside a range (a product over it costs less than another call). A query's coarse vector is 0 on the age
    columns outside its age range and on the side column: the first pass need not read those rows."""
    nz = np.concatenate(([False], np.asarray(v) != 0, [False]))
    edges = np.flatnonzero(nz[1:] != nz[:-1]).tolist()
    spans: list[tuple[int, int]] = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        if spans and a - spans[-1][1] < min_gap:
            spans[-1] = (spans[-1][0], b)
        else:
            spans.append((a, b))
    return spans


def segment_id(is_uk: np.ndarray, phase: np.ndarray, available: np.ndarray | bool) -> np.ndarray:
    """The coarse segment of rows: one per side (abroad 0, UK 1), phase and availability (taking partners: present,
    active, a free place), so a query scans only the segments its hard constraints can allow
    (``Scorer.bounded_candidates``); in the order of ``ConstraintSet.segments``' ``bool[2, n_phases, 2]``."""
    side_phase = np.asarray(is_uk, dtype=np.int64) * len(PHASE_CODE) + np.asarray(phase, dtype=np.int64)
    return side_phase * 2 + np.asarray(available, dtype=np.int64)


N_SEGMENTS = 2 * len(PHASE_CODE) * 2


def available(index: SchoolIndex, rows: np.ndarray) -> np.ndarray:
    """Whether index ``rows`` take partners (the ``candidate_available`` rule, the asking school aside)."""
    c = index.columns
    return c.present[rows] & c.active[rows] & (c.free_capacity[rows] > 0)


def _segments_of(index: SchoolIndex, rows: np.ndarray) -> np.ndarray:
    c = index.columns
    return segment_id(c.is_uk[rows], c.phase[rows], available(index, rows))


class CoarseIndex:
    """A reduced copy of the candidate matrix for a fast first pass, with exact error bounds.

    Each feature block ``b`` is projected on an orthonormal basis ``V_b``; the pair columns are kept
    as they are. For any query vector ``q`` and candidate row ``m``::

        q . m = sum_b (V_b' q_b) . (V_b' m_b) + q_pair . m_pair + sum_b q_b_perp . m_b_perp

    and ``|q_b_perp . m_b_perp| <= |q_b_perp| |m_b_perp|``: the coarse score plus or minus the
    residual norms bounds every exact score, so rows whose upper bound is below the k-th best lower
    bound cannot be in the top k (see ``Scorer.bounded_candidates``). The bases only decide how
    many rows survive to the exact re-ranking, never the result.

    Rows live in segments by side (abroad, UK), phase and availability (``segment_id``), so a cross-border query
    reads only the other side, only the phases it may pair with, and only schools taking partners; each stores
    its coarse rows and residual norms as columns (``q @ data`` streams them: 2-3x faster than a product with
    short rows). ``SchoolIndex`` keeps it in step on add, update, remove and compact.
    """

    def __init__(self, bases: Mapping[str, np.ndarray], blocks: Mapping[str, slice], n_features: int) -> None:
        self.bases = dict(bases)
        self.blocks = dict(blocks)
        self.n_features = n_features
        self.width = sum(b.shape[1] for b in self.bases.values()) + N_PAIR_COLUMNS
        self.segments = [_Segment.empty(self.width, len(blocks)) for _ in range(N_SEGMENTS)]
        self.side_of = np.zeros(0, np.int8)  # per index row: its segment (``segment_id``), -1 if none
        self.pos_of = np.zeros(0, np.int64)  # per index row: position in its segment
        self.fitted_rows = 0  # rows present when the bases were fitted
        # distinct rows of UTC offsets per term, (k, N_TERMS): a query's time-zone term is a lookup
        self.tz_values = np.zeros((0, N_TERMS), np.float32)
        self.weights: dict[str, float] = {}
        self.version = -1  # the index version it mirrors

    @classmethod
    def fit(
        cls,
        index: SchoolIndex,
        weights: Mapping[str, float] | None = None,
        budget: int = 96,
        sample_size: int = 20_000,
        seed: int = 0,
        populate: bool = True,
    ) -> CoarseIndex:
        """Fit the bases (``budget`` feature dimensions) on a sample of the present rows; project every present row
        (``populate=False``: only the bases, for ``project``)."""
        present = np.flatnonzero(index.columns.present[: index.n_rows])
        rng = np.random.default_rng(seed)
        sample_rows = present
        if len(present) > sample_size:
            sample_rows = np.sort(rng.choice(present, sample_size, replace=False))
        weights = dict(weights) if weights else dict.fromkeys(index.blocks, 1.0)
        with single_threaded_blas():  # on a shared CPU two BLAS threads made this 5x slower
            bases = _block_bases(index.matrix[sample_rows, : index.n_features], index.blocks, weights, budget)
            coarse = cls(bases, index.blocks, index.n_features)
            coarse.weights = weights
            coarse.fitted_rows = len(present)
            if populate:
                coarse.add_rows(index, present)
        return coarse

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    def project(self, rows_matrix: np.ndarray) -> dict[str, np.ndarray]:
        """Full rows ``(m, D)`` as coarse rows: ``data`` ``(m, width)`` and ``residual`` ``(m, n_blocks)``."""
        rows_matrix = np.atleast_2d(rows_matrix)
        m = len(rows_matrix)
        data = np.empty((m, self.width), np.float32)
        residual = np.empty((m, self.n_blocks), np.float32)
        for start in range(0, m, 8192):
            chunk = rows_matrix[start : start + 8192]
            at = slice(start, start + len(chunk))
            col = 0
            for j, (name, s) in enumerate(self.blocks.items()):
                basis = self.bases[name]
                x = chunk[:, s]
                p = x @ basis
                data[at, col : col + p.shape[1]] = p
                residual[at, j] = np.linalg.norm(x - p @ basis.T, axis=1)
                col += p.shape[1]
            data[at, col:] = chunk[:, self.n_features :]
        return {"data": data, "residual": residual}

    def project_query(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A query vector ``(D,)`` as a coarse vector ``(width,)`` and per-block residual norms ``(n_blocks,)``."""
        parts = self.project(q[None, :])
        return parts["data"][0], parts["residual"][0]

    def _grow_rows(self, n_rows: int) -> None:
        if n_rows > len(self.side_of):
            cap = max(n_rows, int(len(self.side_of) * 1.5) + 16)
            side = np.full(cap, -1, np.int8)
            side[: len(self.side_of)] = self.side_of
            pos = np.zeros(cap, np.int64)
            pos[: len(self.pos_of)] = self.pos_of
            self.side_of, self.pos_of = side, pos

    def add_rows(self, index: SchoolIndex, rows: np.ndarray) -> None:
        """Project and append index rows (new schools)."""
        rows = np.asarray(rows, dtype=np.int64)
        self._grow_rows(index.n_rows)
        if len(rows):
            parts = self.project(index.matrix[rows])
            parts["tz"] = self._tz_codes(index.columns.tz_offset[rows])
            parts["rows"] = rows
            seg_ids = _segments_of(index, rows)
            for seg in np.unique(seg_ids).tolist():
                sel = np.flatnonzero(seg_ids == seg)
                pos = self.segments[seg].append({name: a[sel] for name, a in parts.items()})
                self.side_of[rows[sel]] = seg
                self.pos_of[rows[sel]] = pos
        self.version = index.version

    def update_row(self, index: SchoolIndex, row: int, reproject: bool = True) -> None:
        """Re-project a changed row (moving it to another segment if its side, phase or availability changed);
        ``reproject=False``: its matrix row and time zones are unchanged, only its segment may be."""
        seg = int(_segments_of(index, np.array([row]))[0])
        if self.side_of[row] == seg:
            if reproject:
                parts = self.project(index.matrix[row : row + 1])
                parts["tz"] = self._tz_codes(index.columns.tz_offset[row : row + 1])
                self.segments[seg].set(self.pos_of[row : row + 1], parts)
            self.version = index.version
        else:
            self.remove_row(index, row)
            self.add_rows(index, np.array([row]))

    def _tz_codes(self, offsets: np.ndarray) -> np.ndarray:
        """Codes of rows of UTC offsets per term ``(k, N_TERMS)`` in ``tz_values`` (new rows are appended)."""
        offsets = np.asarray(offsets, dtype=np.float32)
        if len(offsets) <= 64:  # a change's few rows: ``np.unique(axis=0)`` would cost more than the look-ups
            values, inverse = offsets, np.arange(len(offsets))
        else:
            values, inverse = np.unique(offsets, axis=0, return_inverse=True)
        known = {row: i for i, row in enumerate(map(tuple, self.tz_values.tolist()))}
        codes = np.zeros(len(values), dtype=np.int16)
        new = []
        for i, row in enumerate(map(tuple, values.tolist())):
            if row not in known:
                known[row] = len(self.tz_values) + len(new)
                new.append(row)
            codes[i] = known[row]
        if new:
            self.tz_values = np.concatenate([self.tz_values, np.array(new, dtype=np.float32)])
        return codes[inverse.reshape(-1)]

    def remove_row(self, index: SchoolIndex, row: int) -> None:
        """Drop a removed row (its slot stays, dead, until the index is compacted)."""
        if row < len(self.side_of) and self.side_of[row] >= 0:
            self.segments[self.side_of[row]].kill(int(self.pos_of[row]))
            self.side_of[row] = -1
        self.version = index.version

    def copy(self) -> CoarseIndex:
        """An independent copy: arrays, segments and maps copied (the basis arrays shared: never changed in
        place); anything else deep-copied."""
        fresh = CoarseIndex.__new__(CoarseIndex)
        for name, value in self.__dict__.items():
            if isinstance(value, np.ndarray):
                value = value.copy()
            elif name == "segments":
                value = [_Segment(*(getattr(seg, a).copy() for a in _SEGMENT_ARRAYS), seg.size) for seg in value]
            elif isinstance(value, dict):
                value = dict(value)
            elif not isinstance(value, (int, float, str, type(None))):
                value = copy.deepcopy(value)
            fresh.__dict__[name] = value
        return fresh

    def __len__(self) -> int:
        return int(np.count_nonzero(self.side_of >= 0))

    @property
    def slots(self) -> int:
        """Slots in use, dead ones included (a removed row, or one that moved segment, leaves one until a refit)."""
        return sum(seg.size for seg in self.segments)

    @property
    def nbytes(self) -> int:
        """Memory held by the coarse arrays."""
        arrays = [getattr(seg, name) for seg in self.segments for name in _SEGMENT_ARRAYS]
        return sum(a.nbytes for a in (*arrays, self.side_of, self.pos_of, *self.bases.values()))
