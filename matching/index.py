"""The school index: ids <-> rows once, aligned arrays inside, incremental add/update/remove.

Row ``i`` of every array describes the same school. Removed schools leave a tombstone
(``present[i] = False``) until ``compact()``; rows are never reused in between.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

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
        self.__dict__.update(fresh.__dict__)
        self.version = version + 1

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

    # ------------------------------------------------------------ trimmed views
    def cols(self) -> SchoolColumns:
        """Columns trimmed to the used rows (views, no copy)."""
        n = self._n
        c = self.columns
        return SchoolColumns(
            **{name: getattr(c, name)[:n] for name in _ARRAY_FIELDS},
            partners=c.partners, excluded=c.excluded, ids=c.ids,
        )  # fmt: skip
