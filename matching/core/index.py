"""The school index: ids <-> rows once, aligned arrays inside, incremental add/update/remove.

Row ``i`` of every array describes the same school. Removed schools leave a tombstone
(``present[i] = False``) until ``compact()``; rows are never reused in between.
"""

from __future__ import annotations

import copy as copy_
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from features.profiles import SchoolProfile
from features.vectorizer import FeatureMatrix, SchoolVectorizer
from matching.core.coarse import COARSE_MIN_ROWS, CoarseIndex, process_blas_threads, single_threaded_blas
from matching.core.columns import (
    ARRAY_FIELDS,
    LIST_FIELDS,
    N_PAIR_COLUMNS,
    PAIR_INPUTS,
    PHASE_CODE,
    SchoolColumns,
    language_bits,
    pair_columns,
    readiness,
)
from matching.errors import DuplicateSchoolError, UnknownSchoolError

UPDATE_LOG = 256  # in-place updates remembered (``updated_rows_since``); per-row caches further behind rebuild

# SchoolIndex, plus names that moved to ``columns`` and ``coarse`` (importable from here too).
__all__ = [
    "COARSE_MIN_ROWS",
    "MASK_CACHE_SIZE",
    "N_PAIR_COLUMNS",
    "PHASE_CODE",
    "CoarseIndex",
    "SchoolColumns",
    "SchoolIndex",
    "language_bits",
    "pair_columns",
    "process_blas_threads",
    "readiness",
    "single_threaded_blas",
]

MASK_CACHE_SIZE = 512  # cached constraint masks per index version (about 100 KB each at 100k rows)


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
        self._layout_version = 0  # the version of the last add, remove or compact (rows came or went)
        self._updated: list[tuple[int, int]] = []  # (version, row) of the latest in-place updates, oldest first
        self._masks: tuple[int, dict[tuple[object, ...], np.ndarray]] = (-1, {})  # (version, cache)
        self.coarse: CoarseIndex | None = None  # the fast first pass, built on first use (``coarse_index``)
        self._cols: tuple[int, SchoolColumns | None] = (-1, None)  # (version, ``cols()`` of that version)
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
        for name in ARRAY_FIELDS:
            old = getattr(self.columns, name)
            shape = (new_cap, *old.shape[1:])
            grown = np.zeros(shape, dtype=old.dtype)
            grown[: self._n] = old[: self._n]
            setattr(self.columns, name, grown)
        self._capacity = new_cap

    def vectorize(self, profiles: Sequence[SchoolProfile]) -> np.ndarray:
        """Candidate-side rows for profiles (features then pair columns). A registered school starts from its
        current row and only the parts whose inputs changed are computed again (a new capacity: nothing; a new
        description: the themes block alone)."""
        out = np.empty((len(profiles), self.matrix.shape[1]), dtype=np.float32)
        fresh: list[int] = []
        partial: dict[tuple[tuple[str, ...], bool], list[int]] = {}  # (blocks, pair columns) to recompute -> rows
        for i, p in enumerate(profiles):
            changed = self._changed_parts(p)
            if changed is None:
                fresh.append(i)
                continue
            out[i] = self.matrix[self.row_of[p.school_id]]
            if changed[0] or changed[1]:
                partial.setdefault(changed, []).append(i)
        if fresh:
            todo = [profiles[i] for i in fresh]
            out[fresh] = np.hstack([self.vectorizer.transform(todo), pair_columns(todo)])
        for (blocks, pairs), rows in partial.items():
            todo = [profiles[i] for i in rows]
            if blocks:
                for name, columns in self.vectorizer.transform_blocks(todo, blocks).items():
                    out[rows, self.vectorizer.blocks_[name]] = columns
            if pairs:
                out[rows, self.n_features :] = pair_columns(todo)
        return out

    def _changed_parts(self, profile: SchoolProfile) -> tuple[tuple[str, ...], bool] | None:
        """For a registered school: the vectorizer blocks whose inputs ``profile`` changes and whether its pair
        columns change (``PAIR_INPUTS``); None for a school not registered."""
        row = self.row_of.get(profile.school_id)
        old = None if row is None else self.profiles[row]
        if old is None:
            return None
        pairs = any(getattr(old, f) != getattr(profile, f) for f in PAIR_INPUTS)
        before, after = old.to_record(include_private=False), profile.to_record(include_private=False)
        blocks = tuple(
            name
            for name, columns in self.vectorizer.block_inputs().items()
            if any(before[c] != after[c] for c in columns)
        )
        return blocks, pairs

    def add(self, profiles: Sequence[SchoolProfile], rows_matrix: np.ndarray | None = None) -> None:
        """Add new schools (their texts are encoded unless cached). Ids must be new. ``rows_matrix``: their
        rows from ``vectorize`` if already computed (another copy of the index applying the same change)."""
        profiles = list(profiles)
        seen: set[str] = set()
        for p in profiles:
            if p.school_id in self.row_of or p.school_id in seen:
                raise DuplicateSchoolError(p.school_id)
            seen.add(p.school_id)
        if not profiles:
            return
        rows_matrix = self.vectorize(profiles) if rows_matrix is None else self._checked_rows(rows_matrix, profiles)
        cols = SchoolColumns.from_profiles(profiles)
        self._reserve(len(profiles))
        start, stop = self._n, self._n + len(profiles)
        self.matrix[start:stop] = rows_matrix
        for name in ARRAY_FIELDS:
            getattr(self.columns, name)[start:stop] = getattr(cols, name)
        for name in LIST_FIELDS:
            getattr(self.columns, name).extend(getattr(cols, name))
        self.profiles.extend(profiles)
        for offset, p in enumerate(profiles):
            self.row_of[p.school_id] = start + offset
            self._link(p, start + offset)
        self._n = stop
        self.version += 1
        self._layout_version = self.version
        if self.coarse is not None:
            self.coarse.add_rows(self, np.arange(start, stop))

    def _checked_rows(self, rows_matrix: np.ndarray, profiles: Sequence[SchoolProfile]) -> np.ndarray:
        rows_matrix = np.asarray(rows_matrix, dtype=np.float32)
        if rows_matrix.shape != (len(profiles), self.matrix.shape[1]):
            raise ValueError(
                f"rows_matrix of shape {rows_matrix.shape}: expected ({len(profiles)}, {self.matrix.shape[1]}), "
                "one vectorized row per profile"
            )
        return rows_matrix

    def update(self, profile: SchoolProfile, row_vector: np.ndarray | None = None) -> None:
        """Replace a school's profile in place (re-encodes only if its text changed and is not cached).
        ``row_vector``: its row from ``vectorize`` if already computed."""
        row = self.row(profile.school_id)
        old = self.profiles[row]
        assert old is not None
        vector = self.vectorize([profile]) if row_vector is None else self._checked_rows(row_vector[None], [profile])
        self._unlink(old, row)
        cols = SchoolColumns.from_profiles([profile])
        # capacity, partners, name...: the same row and time zones, so the coarse row needs no new projection
        same = np.array_equal(self.matrix[row], vector[0]) and np.array_equal(
            self.columns.tz_offset[row], cols.tz_offset[0]
        )
        self.matrix[row] = vector[0]
        for name in ARRAY_FIELDS:
            getattr(self.columns, name)[row] = getattr(cols, name)[0]
        for name in LIST_FIELDS:
            getattr(self.columns, name)[row] = getattr(cols, name)[0]
        self.profiles[row] = profile
        self._link(profile, row)
        self.version += 1
        self._updated.append((self.version, row))
        if len(self._updated) > 2 * UPDATE_LOG:
            del self._updated[:UPDATE_LOG]
        if self.coarse is not None:
            self.coarse.update_row(self, row, reproject=not same)

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
        self._layout_version = self.version
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
        for name in ARRAY_FIELDS:
            getattr(fresh.columns, name)[: len(keep)] = getattr(cols, name)
        for name in LIST_FIELDS:
            setattr(fresh.columns, name, list(getattr(cols, name)))
        fresh.profiles = list(profiles)
        fresh._n = len(keep)
        for row, p in enumerate(profiles):
            fresh.row_of[p.school_id] = row
            fresh._link(p, row)
        version = self.version  # keep counting up: caches keyed by version must never see an old number again
        coarse = self.coarse
        self.__dict__.update(fresh.__dict__)
        self.version = self._layout_version = version + 1
        if coarse is not None and len(self) >= COARSE_MIN_ROWS:  # rows were renumbered: rebuild now, not mid-request
            self.coarse = CoarseIndex.fit(self, coarse.weights)

    def copy(self) -> SchoolIndex:
        """An independent copy (arrays, lists and maps copied; the vectorizer and the immutable profiles, ids and
        partner sets shared): tens of milliseconds where ``copy.deepcopy`` takes a second at 20,000 schools."""
        fresh = SchoolIndex.__new__(SchoolIndex)
        state = dict(self.__dict__)
        for name, value in state.items():
            if name == "vectorizer":
                continue
            if name == "columns":
                value = SchoolColumns(
                    **{f: getattr(value, f).copy() for f in ARRAY_FIELDS},
                    **{f: list(getattr(value, f)) for f in LIST_FIELDS},
                )
            elif name in ("partner_of", "excluded_by"):
                value = {k: set(v) for k, v in value.items()}
            elif name in ("_masks", "_cols"):
                value = (-1, {}) if name == "_masks" else (-1, None)
            elif isinstance(value, np.ndarray):
                value = value.copy()
            elif isinstance(value, (list, dict)) and name in ("profiles", "row_of", "blocks", "_updated"):
                value = type(value)(value)
            elif isinstance(value, CoarseIndex):
                value = value.copy()
            elif not isinstance(value, (int, float, str, type(None))):
                value = copy_.deepcopy(value)  # anything added later: correct, if slower
            state[name] = value
        fresh.__dict__.update(state)
        return fresh

    def __deepcopy__(self, memo: dict[int, object]) -> SchoolIndex:
        """A deep copy without the ``cols()`` cache (its views would be copies of the copied arrays)."""
        fresh = SchoolIndex.__new__(SchoolIndex)
        memo[id(self)] = fresh
        for name, value in self.__dict__.items():
            fresh.__dict__[name] = (-1, None) if name == "_cols" else copy_.deepcopy(value, memo)
        return fresh

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_cols": (-1, None)}

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
        add/update/remove/compact, and refitted once the registry has doubled since it was fitted or the dead slots
        outnumber the live ones.
        """
        if len(self) < min_rows:
            return None
        c = self.coarse
        if (
            c is None
            or c.version != self.version
            or len(self) > 2 * c.fitted_rows
            or c.slots > 2 * len(c)  # dead slots (moves, removals) are streamed too
        ):
            self.coarse = CoarseIndex.fit(self, weights or (c.weights if c is not None else None))
        return self.coarse

    def updated_rows_since(self, version: int) -> list[int] | None:
        """Rows changed in place (``update``) after index version ``version``, for caches kept per row: None when
        rows were added or removed since, or the record of updates no longer reaches back (rebuild whole)."""
        if version == self.version:
            return []
        log = self._updated
        if version < self._layout_version or version > self.version or not log or log[0][0] > version + 1:
            return None
        return [row for v, row in log if v > version]

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
        """Columns trimmed to the used rows (views, no copy; made once per index version: read, never assign)."""
        version, cols = getattr(self, "_cols", (-1, None))
        if version == self.version and cols is not None:
            return cols
        n = self._n
        c = self.columns
        cols = SchoolColumns(
            **{name: getattr(c, name)[:n] for name in ARRAY_FIELDS},
            partners=c.partners, excluded=c.excluded, ids=c.ids,
        )  # fmt: skip
        self._cols = (self.version, cols)
        return cols
