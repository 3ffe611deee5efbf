"""Readable reasons for a suggestion, and why-not explanations for a pair."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import and_

import numpy as np

from features import vocab
from features.profiles import SchoolProfile


@dataclass(frozen=True)
class Reasons:
    """What two schools have in common, structured (for pages) and as sentences (for people)."""

    shared_themes: tuple[str, ...] = ()
    you_want_they_offer: tuple[str, ...] = ()
    they_want_you_offer: tuple[str, ...] = ()
    shared_languages: tuple[str, ...] = ()
    overlap_hours: float = 0.0  # mean over the terms of the school year (what the score counts)
    same_region: bool = False
    overlap_range: tuple[float, float] = (0.0, 0.0)  # (least, most) over the terms (``vocab.TERMS``)
    shared_strengths: tuple[str, ...] = ()  # skills both schools offer
    both_lack: tuple[str, ...] = ()  # skills both want and neither offers (no help to each other there)
    ages: tuple[int, int, int, int] = (0, 0, 0, 0)  # (your min, your max, their min, their max)
    years_in_common: int = 0
    suits_you: tuple[str, ...] = ()  # why they suit you: your wishes they meet
    would_want_you: tuple[str, ...] = ()  # why they would want you: their wishes you meet
    wishes_unmet: tuple[str, ...] = ()  # wishes (either side's) the pair does not meet
    text_note: str | None = None  # the candidate's description is in a language the text model does not cover
    your_wishes: tuple[WishPart, ...] = ()  # the same wishes, structured: yours (met or not) ...
    their_wishes: tuple[WishPart, ...] = ()  # ... and theirs

    @property
    def ages_text(self) -> str:
        """``ages 7-11 and 8-12: 4 years in common``."""
        a0, a1, b0, b1 = self.ages
        n = self.years_in_common
        return f"Ages {a0}-{a1} and {b0}-{b1}: {n} year{'s' if n != 1 else ''} in common"

    @property
    def overlap_text(self) -> str:
        """The overlap as people read it: ``4 h``, or ``4-5 h`` when summer time changes it."""
        low, high = self.overlap_range
        return f"{high:g} h" if low == high else f"{low:g}-{high:g} h"

    def sentences(self) -> list[str]:
        """Readable reasons, most specific first."""
        out = []
        if self.ages[1]:
            out.append(self.ages_text)
        if self.shared_themes:
            out.append("Shared themes: " + ", ".join(vocab.theme_label(t) for t in self.shared_themes))
        for skill in self.you_want_they_offer:
            out.append(f"You want {vocab.SKILL_LABELS[skill]} — they offer it")
        for skill in self.they_want_you_offer:
            out.append(f"They want {vocab.SKILL_LABELS[skill]} — you offer it")
        if self.shared_strengths:
            out.append("Both offer " + ", ".join(vocab.SKILL_LABELS[s] for s in self.shared_strengths))
        if self.both_lack:
            out.append("Both want " + ", ".join(vocab.SKILL_LABELS[s] for s in self.both_lack) + " — neither offers it")
        if self.suits_you:
            out.append("Why they suit you: " + "; ".join(self.suits_you))
        if self.would_want_you:
            out.append("Why they would want you: " + "; ".join(self.would_want_you))
        if self.wishes_unmet:
            out.append("Not as wished: " + "; ".join(self.wishes_unmet))
        if self.shared_languages:
            out.append("Shared languages: " + ", ".join(vocab.language_name(c) for c in self.shared_languages))
        if self.overlap_range[1] > 0:
            out.append(f"School days overlap {self.overlap_text} (live lessons possible)")
        else:
            out.append("School days do not overlap (recorded video exchanges rather than live lessons)")
        if self.text_note:
            out.append(self.text_note[0].upper() + self.text_note[1:])
        return out

    def as_dict(self, extended: bool = False) -> dict[str, object]:
        """JSON-friendly form, sentences included; ``extended`` adds the fields of issue 16 (skills both offer
        and both lack, ages, why they suit you and would want you, wishes not met)."""
        out: dict[str, object] = {
            "shared_themes": list(self.shared_themes),
            "you_want_they_offer": list(self.you_want_they_offer),
            "they_want_you_offer": list(self.they_want_you_offer),
            "shared_languages": list(self.shared_languages),
            "overlap_hours": self.overlap_hours,
            "same_region": self.same_region,
        }
        if extended:
            out.update(
                shared_strengths=list(self.shared_strengths),
                both_lack=list(self.both_lack),
                ages=list(self.ages),
                years_in_common=self.years_in_common,
                suits_you=list(self.suits_you),
                would_want_you=list(self.would_want_you),
                wishes_unmet=list(self.wishes_unmet),
                text_note=self.text_note,
                your_wishes=[w.as_dict() for w in self.your_wishes],
                their_wishes=[w.as_dict() for w in self.their_wishes],
            )
        out["text"] = self.sentences()
        return out


def reasons_for(
    a: SchoolProfile,
    b: SchoolProfile,
    overlap: float | Sequence[float] | np.ndarray,
    skill_threshold: float = 0.5,
    text_note: str | None = None,
) -> Reasons:
    """Reasons that school ``b`` suits school ``a``; ``overlap``: school-day overlap hours in each term (or one
    number for every term); ``text_note``: a note on ``b``'s description language (``Ranker.text_note``)."""
    return ReasonsFor(a, skill_threshold)(b, overlap, text_note)


class ReasonsFor:
    """``reasons_for`` with the asking school ``a`` fixed: its side (its skill levels against the threshold, its
    region) is worked out once for all its candidates (a ranking's ten reasons cost about half as much)."""

    def __init__(self, a: SchoolProfile, skill_threshold: float = 0.5) -> None:
        t = self.skill_threshold = skill_threshold
        self.a = a
        self._want = tuple(w >= t for w in a.skills_want.as_tuple())
        self._offer = tuple(o >= t for o in a.skills_offer.as_tuple())
        self._lack = tuple(w and not o for w, o in zip(self._want, self._offer, strict=True))  # wants, does not offer
        self._region = vocab.region(a.country)

    def __call__(
        self,
        b: SchoolProfile,
        overlap: float | Sequence[float] | np.ndarray,
        text_note: str | None = None,
        kind: type[Reasons] | None = None,
        **extra: object,
    ) -> Reasons:
        """Reasons that ``b`` suits the asking school, as ``reasons_for``; ``kind``: a subclass of ``Reasons``
        to build (default ``Reasons``), given ``extra`` fields."""
        a, t = self.a, self.skill_threshold
        hours = _rounded_hours(overlap)
        want_b = [w >= t for w in b.skills_want.as_tuple()]
        offer_b = [o >= t for o in b.skills_offer.as_tuple()]
        skills = vocab.SKILLS
        themes_b, languages_b = set(b.themes), set(b.languages)
        yours, theirs = wish_parts(a, b), wish_parts(b, a)
        met_ab, unmet_ab = [p.text() for p in yours if p.met], [p.text() for p in yours if not p.met]
        met_ba, unmet_ba = [p.text() for p in theirs if p.met], [p.text() for p in theirs if not p.met]
        return (kind or Reasons)(
            shared_themes=tuple(x for x in a.themes if x in themes_b),
            you_want_they_offer=tuple(compress(skills, map(and_, self._want, offer_b))),
            they_want_you_offer=tuple(compress(skills, map(and_, want_b, self._offer))),
            shared_languages=tuple(lang for lang in a.languages if lang in languages_b),
            overlap_hours=round(sum(hours) / len(hours), 1),
            same_region=self._region == vocab.region(b.country),
            overlap_range=(min(hours), max(hours)),
            shared_strengths=tuple(compress(skills, map(and_, self._offer, offer_b))),
            both_lack=tuple(
                s for s, lack, w, o in zip(skills, self._lack, want_b, offer_b, strict=True) if lack and w and not o
            ),
            ages=(a.age_min, a.age_max, b.age_min, b.age_max),
            years_in_common=max(0, min(a.age_max, b.age_max) - max(a.age_min, b.age_min) + 1),
            suits_you=tuple(met_ab),
            would_want_you=tuple(met_ba),
            wishes_unmet=tuple([*(f"you asked for {x}" for x in unmet_ab), *(f"they asked for {x}" for x in unmet_ba)]),
            text_note=text_note,
            your_wishes=tuple(yours),
            their_wishes=tuple(theirs),
            **extra,
        )


def _rounded_hours(overlap: float | Sequence[float] | np.ndarray) -> list[float]:
    """Overlap hours per term rounded to 0.1 h as ``np.round`` does (times 10, half to even, over 10), in plain
    floats: a handful of numbers per pair, where numpy's per-call cost would dominate."""
    values = overlap.reshape(-1).tolist() if isinstance(overlap, np.ndarray) else overlap
    if isinstance(values, int | float):
        values = [values]
    return [round(float(x) * 10.0) / 10.0 for x in values]


@dataclass(frozen=True)
class WishPart:
    """One wish of one school, structured so a page can say it in the reader's language: ``kind`` is
    ``country`` / ``region`` (UN M49 codes or names) / ``phase`` / ``work`` (``vocab.KIND_LABELS`` keys);
    ``values``: what the pair has of it when ``met``, else what was asked for."""

    kind: str
    met: bool
    values: tuple[str, ...]

    def text(self) -> str:
        """The English line (``Reasons.suits_you`` and the others are made of these)."""
        if self.kind == "country":
            return (
                f"in {vocab.country_name(self.values[0])}, a country asked for"
                if self.met
                else "schools in " + " or ".join(_place_name(v) for v in self.values)
            )
        if self.kind == "region":
            if self.met:
                return f"in {vocab.m49_name(self.values[0])}, a region asked for"
            return "schools in " + " or ".join(_place_name(v) for v in self.values)
        if self.kind == "phase":
            phases = [v.replace("_", "-") for v in self.values]
            return f"a {phases[0]} school, as asked for" if self.met else " or ".join(phases) + " schools"
        labels = [vocab.KIND_LABELS[k] for k in self.values]
        return "also wants " + ", ".join(labels) if self.met else " or ".join(labels)

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "met": self.met, "values": list(self.values)}


def _place_name(code: str) -> str:
    return vocab.country_name(code) if len(code) == 2 and code.isalpha() and code.isupper() else vocab.m49_name(code)


def wish_parts(a: SchoolProfile, b: SchoolProfile) -> list[WishPart]:
    """How school ``b`` meets each of school ``a``'s wishes (as ``wishes.wish_fit`` counts them)."""
    parts: list[WishPart] = []
    if a.preferred_countries or a.preferred_regions:
        areas = {vocab.region(b.country), vocab.subregion(b.country)}
        if b.country in a.preferred_countries:
            parts.append(WishPart("country", True, (b.country,)))
        elif areas & set(a.preferred_regions):
            parts.append(WishPart("region", True, (next(r for r in a.preferred_regions if r in areas),)))
        else:
            asked = (*a.preferred_countries, *a.preferred_regions)
            parts.append(WishPart("country" if a.preferred_countries else "region", False, asked))
    if a.preferred_phases:
        met = b.phase in a.preferred_phases
        parts.append(WishPart("phase", met, (b.phase,) if met else tuple(a.preferred_phases)))
    if a.kinds_of_work and b.kinds_of_work:
        shared = tuple(k for k in a.kinds_of_work if k in b.kinds_of_work)
        parts.append(WishPart("work", bool(shared), shared or tuple(a.kinds_of_work)))
    return parts


def wishes_met(a: SchoolProfile, b: SchoolProfile) -> tuple[list[str], list[str]]:
    """``(met, unmet)``: readable lines on how school ``b`` meets school ``a``'s wishes (as ``wishes.wish_fit``)."""
    parts = wish_parts(a, b)
    return [p.text() for p in parts if p.met], [p.text() for p in parts if not p.met]


@dataclass(frozen=True)
class PairExplanation:
    """Why school b is (or is not) suggested to school a."""

    a: str
    b: str
    allowed: bool
    blocked_by: list[tuple[str, str]] = field(default_factory=list)  # (rule, message)
    score: float = 0.0
    contributions: dict[str, float] = field(default_factory=dict)
    reasons: Reasons = Reasons()

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {
            "a": self.a,
            "b": self.b,
            "allowed": self.allowed,
            "blocked_by": [{"rule": r, "message": m} for r, m in self.blocked_by],
            "score": self.score,
            "contributions": self.contributions,
            "reasons": self.reasons.as_dict(),
        }

    def sentences(self) -> list[str]:
        """A readable account."""
        head = (
            f"{self.b} can be suggested to {self.a}: score {self.score:.3f}"
            if self.allowed
            else f"{self.b} is not suggested to {self.a}; blocked by: "
            + "; ".join(f"{r} ({m})" for r, m in self.blocked_by)
        )
        parts = ", ".join(f"{k} {v:+.3f}" for k, v in self.contributions.items())
        return [head, f"Score parts: {parts}", *self.reasons.sentences()]


@dataclass(frozen=True)
class RuleCount:
    """How many candidates one rule or filter lets through on its own."""

    rule: str
    message: str
    passing: int
    is_filter: bool = False

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {"rule": self.rule, "message": self.message, "passing": self.passing, "is_filter": self.is_filter}


@dataclass(frozen=True)
class Diagnosis:
    """Why a school's list is as short as it is: counts per rule and per filter (``Ranker.diagnose``).

    ``n_allowed``: candidates passing every rule and filter, less the excluded ones; ``n_excluded``:
    allowed candidates left out because they were excluded (e.g. declined); ``rules``: each rule and
    filter in force alone; ``without_filter``: for each set filter, ``n_allowed`` with that filter
    dropped (the others kept); ``n_unfiltered``: ``n_allowed`` with no filter at all.
    """

    school_id: str
    n_allowed: int
    n_excluded: int = 0
    rules: tuple[RuleCount, ...] = ()
    without_filter: dict[str, int] = field(default_factory=dict)
    n_unfiltered: int = 0

    def blocking(self, filters: bool = True) -> list[RuleCount]:
        """The rules (and, with ``filters``, the filters) that no candidate passes."""
        return [c for c in self.rules if c.passing == 0 and (filters or not c.is_filter)]

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {
            "school_id": self.school_id,
            "n_allowed": self.n_allowed,
            "n_excluded": self.n_excluded,
            "rules": [c.as_dict() for c in self.rules],
            "without_filter": dict(self.without_filter),
            "n_unfiltered": self.n_unfiltered,
        }
