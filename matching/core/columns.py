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
N_AGES = vocab.AGE_MAX - vocab.AGE_MIN + 1
# The candidate-side pair columns (after the feature blocks), by name: each score component other than the
# feature-block similarities is a dot product of the query's vector with some of them (``scoring.Scorer``).
PAIR_LAYOUT: dict[str, int] = {
    "offer": len(vocab.SKILLS),  # skill levels offered (complementarity: what the asking school wants)
    "want_share": len(vocab.SKILLS),  # wanted levels / their sum (complementarity, the other way)
    "offer_shared": len(vocab.SKILLS),  # offered levels again (shared strengths: both offer)
    "readiness": 1,
    "ages": N_AGES,  # 1 for each year of age taught
    "ages_share": N_AGES,  # the same / the number of years taught
    "is_uk": 1,  # the school's side (which mean query the exposure penalty subtracts), never scored
}
PAIR_SLICES: dict[str, slice] = {}
_at = 0
for _name, _width in PAIR_LAYOUT.items():
    PAIR_SLICES[_name] = slice(_at, _at + _width)
    _at += _width
N_PAIR_COLUMNS = _at
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
    country_code: np.ndarray  # int16: position in ``vocab.country_codes()`` (-1 unknown)
    area: np.ndarray  # uint32: bits of the country's M49 region and sub-region (``vocab.M49_AREAS``)
    wish_countries: np.ndarray  # (n, COUNTRY_WORDS) uint64: preferred countries (none: any)
    wish_areas: np.ndarray  # uint32: preferred regions (0: any)
    wish_phases: np.ndarray  # uint8: preferred phases (0: any)
    kinds: np.ndarray  # uint8: kinds of work (0: any)
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
            country_code=np.array([_COUNTRY_BIT.get(p.country, -1) for p in profiles], dtype=np.int16),
            area=np.array([area_bits(p.country) for p in profiles], dtype=np.uint32),
            wish_countries=np.stack([country_bits(p.preferred_countries) for p in profiles])
            if n
            else np.zeros((0, COUNTRY_WORDS), np.uint64),
            wish_areas=np.array([small_bits(p.preferred_regions, vocab.M49_AREAS) for p in profiles], dtype=np.uint32),
            wish_phases=np.array([small_bits(p.preferred_phases, vocab.PHASES) for p in profiles], dtype=np.uint8),
            kinds=np.array([small_bits(p.kinds_of_work, vocab.KINDS_OF_WORK) for p in profiles], dtype=np.uint8),
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
            present=self.present[rows], country_code=self.country_code[rows], area=self.area[rows],
            wish_countries=self.wish_countries[rows], wish_areas=self.wish_areas[rows],
            wish_phases=self.wish_phases[rows], kinds=self.kinds[rows], partners=[self.partners[r] for r in rows],
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
    "country_code",
    "area",
    "wish_countries",
    "wish_areas",
    "wish_phases",
    "kinds",
)
LIST_FIELDS = ("partners", "excluded", "ids")


# the profile fields ``pair_columns`` reads
PAIR_INPUTS: tuple[str, ...] = (
    "skills_offer",
    "skills_want",
    "isa_status",
    "cpd_badge",
    "age_min",
    "age_max",
    "country",
)


def pair_columns(profiles: Sequence[SchoolProfile]) -> np.ndarray:
    """Candidate-side pair-term columns (``PAIR_LAYOUT``): skills, readiness, ages, side."""
    out = np.zeros((len(profiles), N_PAIR_COLUMNS), dtype=np.float32)
    ages = np.arange(vocab.AGE_MIN, vocab.AGE_MAX + 1)
    at = PAIR_SLICES
    for i, p in enumerate(profiles):
        offer, want = np.array(p.skills_offer.as_tuple()), np.array(p.skills_want.as_tuple())
        out[i, at["offer"]] = offer
        total = want.sum()
        out[i, at["want_share"]] = want / total if total > 0 else 0.0
        out[i, at["offer_shared"]] = offer
        out[i, at["readiness"]] = readiness(p)
        taught = ((ages >= p.age_min) & (ages <= p.age_max)).astype(np.float32)
        out[i, at["ages"]] = taught
        out[i, at["ages_share"]] = taught / taught.sum()
        out[i, at["is_uk"]] = float(p.is_uk)
    return out


_COUNTRY_BIT = {code: i for i, code in enumerate(vocab.country_codes())}
COUNTRY_WORDS = (len(_COUNTRY_BIT) + 63) // 64
_AREA_BIT = {code: i for i, code in enumerate(vocab.M49_AREAS)}


def country_bits(countries: Iterable[str]) -> np.ndarray:
    """Countries as a bit set of ``COUNTRY_WORDS`` uint64 words (``vocab.country_codes`` order)."""
    words = np.zeros(COUNTRY_WORDS, dtype=np.uint64)
    for code in countries:
        if (bit := _COUNTRY_BIT.get(code)) is not None:
            words[bit // 64] |= np.uint64(1) << np.uint64(bit % 64)
    return words


def small_bits(items: Iterable[str], vocabulary: Sequence[str]) -> int:
    """Items of a short vocabulary (at most 32) as bits of one integer."""
    pos = {v: i for i, v in enumerate(vocabulary)}
    return sum(1 << pos[x] for x in items if x in pos)


def area_bits(country: str) -> int:
    """The bits (``vocab.M49_AREAS`` order) of a country's M49 region and sub-region."""
    return small_bits((vocab.region(country), vocab.subregion(country)), vocab.M49_AREAS)


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
