"""The school index: ids <-> rows once, aligned arrays inside, incremental add/update/remove.

Row ``i`` of every array describes the same school. Removed schools leave a tombstone
(``present[i] = False``) until ``compact()``; rows are never reused in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pycountry

from features import vocab
from features.profiles import SchoolProfile
from features.vectorizer import FeatureMatrix, SchoolVectorizer
from matching.errors import DuplicateSchoolError, UnknownSchoolError

LANGUAGE_CODES: tuple[str, ...] = tuple(sorted(c.alpha_2 for c in pycountry.languages if hasattr(c, "alpha_2")))
_LANG_BIT = {code: i for i, code in enumerate(LANGUAGE_CODES)}
LANG_WORDS = (len(LANGUAGE_CODES) + 63) // 64
PHASE_CODE = {p: i for i, p in enumerate(vocab.PHASES)}
N_PAIR_COLUMNS = 2 * len(vocab.SKILLS) + 1  # offer, want, readiness
MASK_CACHE_SIZE = 512  # cached constraint masks per index version (about 100 KB each at 100k rows)
COARSE_MIN_ROWS = 4096  # below this many rows an exact scan is as fast as the coarse first pass


def language_bits(languages: Iterable[str]) -> np.ndarray:
    """Languages as a bit set of ``LANG_WORDS`` uint64 words."""
    words = np.zeros(LANG_WORDS, dtype=np.uint64)
    for lang in languages:
        if (bit := _LANG_BIT.get(lang)) is not None:
            words[bit // 64] |= np.uint64(1) << np.uint64(bit % 64)
    return words


def readiness(profile: SchoolProfile) -> float:
    """Readiness in [0, 1]: half ISA level, half CPD badge level."""
    isa = vocab.ISA_LEVELS.index(profile.isa_status) / (len(vocab.ISA_LEVELS) - 1)
    badge = vocab.CPD_BADGE_LEVELS.index(profile.cpd_badge) / (len(vocab.CPD_BADGE_LEVELS) - 1)
    return 0.5 * isa + 0.5 * badge


@dataclass
class SchoolColumns:
    """Per-school attributes the hard constraints and pair terms need, as aligned arrays."""

    is_uk: np.ndarray  # bool
    country: np.ndarray  # <U2
    phase: np.ndarray  # int8, index into vocab.PHASES
    age_min: np.ndarray  # int8
    age_max: np.ndarray  # int8
    lang_bits: np.ndarray  # (n, LANG_WORDS) uint64
    free_capacity: np.ndarray  # int32
    active: np.ndarray  # bool
    tz_offset: np.ndarray  # float32 hours
    present: np.ndarray  # bool: False for removed rows
    partners: list[frozenset[str]] = field(default_factory=list)
    excluded: list[frozenset[str]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    @classmethod
    def from_profiles(cls, profiles: Sequence[SchoolProfile]) -> SchoolColumns:
        """Columns for profiles (not necessarily in the index: e.g. a posted query profile)."""
        n = len(profiles)
        return cls(
            is_uk=np.array([p.is_uk for p in profiles], dtype=bool),
            country=np.array([p.country for p in profiles], dtype="<U2"),
            phase=np.array([PHASE_CODE[p.phase] for p in profiles], dtype=np.int8),
            age_min=np.array([p.age_min for p in profiles], dtype=np.int8),
            age_max=np.array([p.age_max for p in profiles], dtype=np.int8),
            lang_bits=np.stack([language_bits(p.languages) for p in profiles])
            if n
            else np.zeros((0, LANG_WORDS), np.uint64),
            free_capacity=np.array([p.free_capacity for p in profiles], dtype=np.int32),
            active=np.array([p.active for p in profiles], dtype=bool),
            tz_offset=np.array([vocab.utc_offset_hours(p.timezone) for p in profiles], dtype=np.float32),
            present=np.ones(n, dtype=bool),
            partners=[frozenset(p.current_partners) for p in profiles],
            excluded=[frozenset(p.excluded) for p in profiles],
            ids=[p.school_id for p in profiles],
        )

    def take(self, rows: Sequence[int] | np.ndarray) -> SchoolColumns:
        """The columns of some rows."""
        rows = np.asarray(rows, dtype=np.int64)
        return SchoolColumns(
            is_uk=self.is_uk[rows], country=self.country[rows], phase=self.phase[rows],
            age_min=self.age_min[rows], age_max=self.age_max[rows], lang_bits=self.lang_bits[rows],
            free_capacity=self.free_capacity[rows], active=self.active[rows], tz_offset=self.tz_offset[rows],
            present=self.present[rows], partners=[self.partners[r] for r in rows],
            excluded=[self.excluded[r] for r in rows], ids=[self.ids[r] for r in rows],
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.is_uk)


_ARRAY_FIELDS = (
    "is_uk",
    "country",
    "phase",
    "age_min",
    "age_max",
    "lang_bits",
    "free_capacity",
    "active",
    "tz_offset",
    "present",
)
_LIST_FIELDS = ("partners", "excluded", "ids")


def pair_columns(profiles: Sequence[SchoolProfile]) -> np.ndarray:
    """Candidate-side pair-term columns: skills offered, skills wanted, readiness."""
    out = np.zeros((len(profiles), N_PAIR_COLUMNS), dtype=np.float32)
    k = len(vocab.SKILLS)
    for i, p in enumerate(profiles):
        out[i, :k] = p.skills_offer.as_tuple()
        out[i, k : 2 * k] = p.skills_want.as_tuple()
        out[i, 2 * k] = readiness(p)
    return out


class SchoolIndex:
    """Every registered school as aligned arrays: features, pair columns, constraint columns.

    ``matrix`` (n, d + 13) holds the unit feature blocks, then offer, want and readiness:
    the candidate side of the score's single matrix product.
    """

    def __init__(self, vectorizer: SchoolVectorizer, profiles: Sequence[SchoolProfile] = ()) -> None:
        self.vectorizer = vectorizer
        self.blocks: dict[str, slice] = dict(vectorizer.blocks_)
        self.n_features = int(vectorizer.n_features_out_)
        self._n = 0
        self._capacity = 0
        self.matrix = np.zeros((0, self.n_features + N_PAIR_COLUMNS), dtype=np.float32)
        self.columns = SchoolColumns.from_profiles([])
        self.profiles: list[SchoolProfile | None] = []
        self.row_of: dict[str, int] = {}
        self.partner_of: dict[str, set[int]] = {}  # id -> rows listing it as a partner
        self.excluded_by: dict[str, set[int]] = {}  # id -> rows excluding it
        self.version = 0  # bumped on every change
        self._masks: tuple[int, dict[tuple[object, ...], np.ndarray]] = (-1, {})  # (version, cache)
        self.coarse: CoarseIndex | None = None  # the fast first pass, built on first use (``coarse_index``)
        if profiles:
            self.add(profiles)

    @classmethod
    def build(cls, profiles: Sequence[SchoolProfile], encoder: object, progress: bool = True) -> SchoolIndex:
        """Fit a vectorizer on the registry and index every school."""
        vectorizer = SchoolVectorizer(encoder=encoder, progress=progress)
        vectorizer.fit(profiles)
        return cls(vectorizer, profiles)

    # ------------------------------------------------------------ size and lookup
    def __len__(self) -> int:
        return len(self.row_of)

    @property
    def n_rows(self) -> int:
        """Rows in use, tombstones included."""
        return self._n

    @property
    def ids(self) -> list[str]:
        """Ids of present schools, in row order."""
        return [i for i, p in zip(self.columns.ids, self.columns.present[: self._n], strict=True) if p]

    def __contains__(self, school_id: object) -> bool:
        return school_id in self.row_of

    def row(self, school_id: str) -> int:
        """Row of a school id."""
        try:
            return self.row_of[school_id]
        except KeyError:
            raise UnknownSchoolError(school_id) from None

    def rows(self, school_ids: Iterable[str]) -> np.ndarray:
        """Rows of school ids."""
        return np.array([self.row(s) for s in school_ids], dtype=np.int64)

    def profile(self, school_id: str) -> SchoolProfile:
        """The stored profile of a school."""
        profile = self.profiles[self.row(school_id)]
        assert profile is not None
        return profile

    def present_profiles(self) -> list[SchoolProfile]:
        """All present profiles in row order."""
        return [p for p in self.profiles if p is not None]

    @property
    def X(self) -> np.ndarray:
        """Feature rows (a view of ``matrix``)."""
        return self.matrix[: self._n, : self.n_features]

    def features(self) -> FeatureMatrix:
        """The present rows as a ``FeatureMatrix``."""
        rows = np.flatnonzero(self.columns.present[: self._n])
        return FeatureMatrix(
            ids=np.array([self.columns.ids[r] for r in rows], dtype=object), X=self.X[rows], blocks=dict(self.blocks)
        )

    # ------------------------------------------------------------ changes
    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        if need <= self._capacity:
            return
        new_cap = max(need, int(self._capacity * 1.5) + 16)
        matrix = np.zeros((new_cap, self.matrix.shape[1]), dtype=np.float32)
        matrix[: self._n] = self.matrix[: self._n]
        self.matrix = matrix
        for name in _ARRAY_FIELDS:
            old = getattr(self.columns, name)
            shape = (new_cap, *old.shape[1:])
            grown = np.zeros(shape, dtype=old.dtype)
            grown[: self._n] = old[: self._n]
            setattr(self.columns, name, grown)
        self._capacity = new_cap

    def vectorize(self, profiles: Sequence[SchoolProfile]) -> np.ndarray:
        """Candidate-side rows for profiles (features then pair columns)."""
        if not profiles:
            return np.zeros((0, self.matrix.shape[1]), dtype=np.float32)
        return np.hstack([self.vectorizer.transform(profiles), pair_columns(profiles)]).astype(np.float32)

    def add(self, profiles: Sequence[SchoolProfile]) -> None:
        """Add new schools (their texts are encoded unless cached). Ids must be new."""
        profiles = list(profiles)
        seen: set[str] = set()
        for p in profiles:
            if p.school_id in self.row_of or p.school_id in seen:
                raise DuplicateSchoolError(p.school_id)
            seen.add(p.school_id)
        if not profiles:
            return
        rows_matrix = self.vectorize(profiles)
        cols = SchoolColumns.from_profiles(profiles)
        self._reserve(len(profiles))
        start, stop = self._n, self._n + len(profiles)
        self.matrix[start:stop] = rows_matrix
        for name in _ARRAY_FIELDS:
            getattr(self.columns, name)[start:stop] = getattr(cols, name)
        for name in _LIST_FIELDS:
            getattr(self.columns, name).extend(getattr(cols, name))
        self.profiles.extend(profiles)
        for offset, p in enumerate(profiles):
            self.row_of[p.school_id] = start + offset
            self._link(p, start + offset)
        self._n = stop
        self.version += 1
        if self.coarse is not None:
            self.coarse.add_rows(self, np.arange(start, stop))

    def update(self, profile: SchoolProfile) -> None:
        """Replace a school's profile in place (re-encodes only if its text changed and is not cached)."""
        row = self.row(profile.school_id)
        old = self.profiles[row]
        assert old is not None
        self._unlink(old, row)
        self.matrix[row] = self.vectorize([profile])[0]
        cols = SchoolColumns.from_profiles([profile])
        for name in _ARRAY_FIELDS:
            getattr(self.columns, name)[row] = getattr(cols, name)[0]
        for name in _LIST_FIELDS:
            getattr(self.columns, name)[row] = getattr(cols, name)[0]
        self.profiles[row] = profile
        self._link(profile, row)
        self.version += 1
        if self.coarse is not None:
            self.coarse.update_row(self, row)

    def upsert(self, profile: SchoolProfile) -> None:
        """Add or update."""
        if profile.school_id in self.row_of:
            self.update(profile)
        else:
            self.add([profile])

    def remove(self, school_id: str) -> None:
        """Remove a school (a tombstone until ``compact``)."""
        row = self.row(school_id)
        old = self.profiles[row]
        assert old is not None
        self._unlink(old, row)
        self.columns.present[row] = False
        self.columns.active[row] = False
        self.profiles[row] = None
        del self.row_of[school_id]
        self.version += 1
        if self.coarse is not None:
            self.coarse.remove_row(self, row)

    def compact(self) -> None:
        """Drop tombstones (rows are renumbered)."""
        profiles = self.present_profiles()
        fresh = SchoolIndex.__new__(SchoolIndex)
        fresh.__init__(self.vectorizer)  # type: ignore[misc]
        keep = np.flatnonzero(self.columns.present[: self._n])
        fresh._reserve(len(keep))
        fresh.matrix[: len(keep)] = self.matrix[keep]
        cols = self.columns.take(keep)
        for name in _ARRAY_FIELDS:
            getattr(fresh.columns, name)[: len(keep)] = getattr(cols, name)
        for name in _LIST_FIELDS:
            setattr(fresh.columns, name, list(getattr(cols, name)))
        fresh.profiles = list(profiles)
        fresh._n = len(keep)
        for row, p in enumerate(profiles):
            fresh.row_of[p.school_id] = row
            fresh._link(p, row)
        version = self.version  # keep counting up: caches keyed by version must never see an old number again
        coarse = self.coarse
        self.__dict__.update(fresh.__dict__)
        self.version = version + 1
        if coarse is not None and len(self) >= COARSE_MIN_ROWS:  # rows were renumbered: rebuild now, not mid-request
            self.coarse = CoarseIndex.fit(self, coarse.weights)

    def _link(self, p: SchoolProfile, row: int) -> None:
        for other in p.current_partners:
            self.partner_of.setdefault(other, set()).add(row)
        for other in p.excluded:
            self.excluded_by.setdefault(other, set()).add(row)

    def _unlink(self, p: SchoolProfile, row: int) -> None:
        for other in p.current_partners:
            self.partner_of.get(other, set()).discard(row)
        for other in p.excluded:
            self.excluded_by.get(other, set()).discard(row)

    def coarse_index(
        self, weights: Mapping[str, float] | None = None, min_rows: int = COARSE_MIN_ROWS
    ) -> CoarseIndex | None:
        """The coarse first-pass index (``CoarseIndex``), or None below ``min_rows`` schools.

        Built on first use (``weights``: block weights to share its dimensions by), kept in step by
        add/update/remove/compact, and refitted once the registry has doubled since it was fitted.
        """
        if len(self) < min_rows:
            return None
        c = self.coarse
        if c is None or c.version != self.version or len(self) > 2 * c.fitted_rows:
            self.coarse = CoarseIndex.fit(self, weights or (c.weights if c is not None else None))
        return self.coarse

    def cached_mask(self, key: tuple[object, ...], compute: Callable[[], np.ndarray]) -> np.ndarray:
        """A candidate mask for ``key``, computed once per index version (at most ``MASK_CACHE_SIZE`` kept).

        For the constraint rules that depend on few query columns (``ConstraintSet.allowed``): a
        request then ANDs a handful of cached masks instead of evaluating every rule on every row.
        """
        version, masks = getattr(self, "_masks", (-1, {}))
        if version != self.version:
            masks = {}
            self._masks = (self.version, masks)
        mask = masks.get(key)
        if mask is None:
            if len(masks) >= MASK_CACHE_SIZE:
                masks.clear()
            mask = np.asarray(compute(), dtype=bool)
            mask.setflags(write=False)
            masks[key] = mask
        return mask

    # ------------------------------------------------------------ trimmed views
    def cols(self) -> SchoolColumns:
        """Columns trimmed to the used rows (views, no copy)."""
        n = self._n
        c = self.columns
        return SchoolColumns(
            **{name: getattr(c, name)[:n] for name in _ARRAY_FIELDS},
            partners=c.partners, excluded=c.excluded, ids=c.ids,
        )  # fmt: skip


# ---------------------------------------------------------------- coarse first pass
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
    tz: np.ndarray  # (cap,) int16: code of the UTC offset (``CoarseIndex.tz_values``)
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

    def kill(self, pos: int) -> None:
        self.data[:, pos] = 0.0
        self.residual[:, pos] = 0.0
        self.rows[pos] = -1


def segment_id(is_uk: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """The coarse segment of rows: one per side (abroad 0, UK 1) and phase, so a query scans only the
    segments its hard constraints can allow (``Scorer.bounded_candidates``)."""
    return np.asarray(is_uk, dtype=np.int64) * len(PHASE_CODE) + np.asarray(phase, dtype=np.int64)


class CoarseIndex:
    """A reduced copy of the candidate matrix for a fast first pass, with exact error bounds.

    Each feature block ``b`` is projected on an orthonormal basis ``V_b``; the pair columns are kept
    as they are. For any query vector ``q`` and candidate row ``m``::

        q . m = sum_b (V_b' q_b) . (V_b' m_b) + q_pair . m_pair + sum_b q_b_perp . m_b_perp

    and ``|q_b_perp . m_b_perp| <= |q_b_perp| |m_b_perp|``: the coarse score plus or minus the
    residual norms bounds every exact score, so rows whose upper bound is below the k-th best lower
    bound cannot be in the top k (see ``Scorer.bounded_candidates``). The bases only decide how
    many rows survive to the exact re-ranking, never the result.

    Rows live in segments by side (abroad, UK) and phase (``segment_id``), so a cross-border query
    reads only the other side, and only the phases it may pair with; each stores its coarse rows and
    residual norms as columns (``q @ data`` streams them:
    2-3x faster than a product with short rows). ``SchoolIndex`` keeps it in step on add, update,
    remove and compact.
    """

    def __init__(self, bases: Mapping[str, np.ndarray], blocks: Mapping[str, slice], n_features: int) -> None:
        self.bases = dict(bases)
        self.blocks = dict(blocks)
        self.n_features = n_features
        self.width = sum(b.shape[1] for b in self.bases.values()) + N_PAIR_COLUMNS
        self.segments = [_Segment.empty(self.width, len(blocks)) for _ in range(2 * len(PHASE_CODE))]
        self.side_of = np.zeros(0, np.int8)  # per index row: its segment (``segment_id``), -1 if none
        self.pos_of = np.zeros(0, np.int64)  # per index row: position in its segment
        self.fitted_rows = 0  # rows present when the bases were fitted
        self.tz_values = np.zeros(0, np.float32)  # distinct UTC offsets: a query's time-zone term is a lookup
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
            seg_ids = segment_id(index.columns.is_uk[rows], index.columns.phase[rows])
            for seg in np.unique(seg_ids).tolist():
                sel = np.flatnonzero(seg_ids == seg)
                pos = self.segments[seg].append({name: a[sel] for name, a in parts.items()})
                self.side_of[rows[sel]] = seg
                self.pos_of[rows[sel]] = pos
        self.version = index.version

    def update_row(self, index: SchoolIndex, row: int) -> None:
        """Re-project a changed row (moving it to another segment if its side or phase changed)."""
        seg = int(segment_id(index.columns.is_uk[row : row + 1], index.columns.phase[row : row + 1])[0])
        if self.side_of[row] == seg:
            parts = self.project(index.matrix[row : row + 1])
            parts["tz"] = self._tz_codes(index.columns.tz_offset[row : row + 1])
            self.segments[seg].set(self.pos_of[row : row + 1], parts)
            self.version = index.version
        else:
            self.remove_row(index, row)
            self.add_rows(index, np.array([row]))

    def _tz_codes(self, offsets: np.ndarray) -> np.ndarray:
        """Codes of UTC offsets in ``tz_values`` (new offsets are appended)."""
        new = np.setdiff1d(offsets, self.tz_values)
        if len(new):
            self.tz_values = np.concatenate([self.tz_values, new.astype(np.float32)])
        order = np.argsort(self.tz_values)
        return order[np.searchsorted(self.tz_values, offsets, sorter=order)].astype(np.int16)

    def remove_row(self, index: SchoolIndex, row: int) -> None:
        """Drop a removed row (its slot stays, dead, until the index is compacted)."""
        if row < len(self.side_of) and self.side_of[row] >= 0:
            self.segments[self.side_of[row]].kill(int(self.pos_of[row]))
            self.side_of[row] = -1
        self.version = index.version

    def __len__(self) -> int:
        return int(np.count_nonzero(self.side_of >= 0))

    @property
    def nbytes(self) -> int:
        """Memory held by the coarse arrays."""
        arrays = [getattr(seg, name) for seg in self.segments for name in _SEGMENT_ARRAYS]
        return sum(a.nbytes for a in (*arrays, self.side_of, self.pos_of, *self.bases.values()))
