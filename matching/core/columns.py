"""Per-school columns the hard rules and pair terms read, as aligned arrays, and the asking side (``Query``).

Row ``i`` of every array describes the same school; ``SchoolIndex`` keeps one ``SchoolColumns`` for
every registered school, and a posted profile gets its own (``SchoolColumns.from_profiles``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pycountry

from features import vocab
from features.profiles import SchoolProfile

if TYPE_CHECKING:
    from matching.core.index import SchoolIndex

LANGUAGE_CODES: tuple[str, ...] = tuple(sorted(c.alpha_2 for c in pycountry.languages if hasattr(c, "alpha_2")))
_LANG_BIT = {code: i for i, code in enumerate(LANGUAGE_CODES)}
LANG_WORDS = (len(LANGUAGE_CODES) + 63) // 64
PHASE_CODE = {p: i for i, p in enumerate(vocab.PHASES)}
N_PAIR_COLUMNS = 2 * len(vocab.SKILLS) + 1  # offer, want, readiness
N_TERMS = len(vocab.TERMS)  # the time-zone columns: one UTC offset per term of the school year


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
    tz_offset: np.ndarray  # (n, N_TERMS) float32 hours: the UTC offset in each term of ``vocab.TERMS``
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
            tz_offset=term_offsets([p.timezone or vocab.country_timezone(p.country) for p in profiles]),
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


ARRAY_FIELDS = (
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
LIST_FIELDS = ("partners", "excluded", "ids")


def pair_columns(profiles: Sequence[SchoolProfile]) -> np.ndarray:
    """Candidate-side pair-term columns: skills offered, skills wanted, readiness."""
    out = np.zeros((len(profiles), N_PAIR_COLUMNS), dtype=np.float32)
    k = len(vocab.SKILLS)
    for i, p in enumerate(profiles):
        out[i, :k] = p.skills_offer.as_tuple()
        out[i, k : 2 * k] = p.skills_want.as_tuple()
        out[i, 2 * k] = readiness(p)
    return out


def term_offsets(zones: Sequence[str]) -> np.ndarray:
    """UTC offsets ``(len(zones), N_TERMS)`` in hours of IANA zones in each term (``vocab.TERMS``)."""
    return np.array([vocab.term_offsets(z) for z in zones], dtype=np.float32).reshape(len(zones), N_TERMS)


def wrapped_hours(delta: np.ndarray) -> np.ndarray:
    """Absolute time difference on a 24-hour circle."""
    d = np.abs(np.asarray(delta, dtype=np.float32)) % 24.0
    return np.minimum(d, 24.0 - d)


@dataclass(frozen=True)
class Query:
    """The asking side: columns of m schools, and their rows in the index (-1 if not registered)."""

    columns: SchoolColumns
    rows: np.ndarray  # int64 (m,)

    @classmethod
    def registered(cls, index: SchoolIndex, rows: Sequence[int] | np.ndarray) -> Query:
        """Queries for registered schools."""
        rows = np.asarray(rows, dtype=np.int64)
        return cls(index.cols().take(rows), rows)

    @classmethod
    def posted(cls, index: SchoolIndex, profile: SchoolProfile) -> Query:
        """A query for a profile (its row if the id is registered, else -1)."""
        row = index.row_of.get(profile.school_id, -1)
        return cls(SchoolColumns.from_profiles([profile]), np.array([row], dtype=np.int64))
