"""Readable reasons for a suggestion, and why-not explanations for a pair."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

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

    @property
    def overlap_text(self) -> str:
        """The overlap as people read it: ``4 h``, or ``4-5 h`` when summer time changes it."""
        low, high = self.overlap_range
        return f"{high:g} h" if low == high else f"{low:g}-{high:g} h"

    def sentences(self) -> list[str]:
        """Readable reasons, most specific first."""
        out = []
        if self.shared_themes:
            out.append("Shared themes: " + ", ".join(vocab.theme_label(t) for t in self.shared_themes))
        for skill in self.you_want_they_offer:
            out.append(f"You want {vocab.SKILL_LABELS[skill]} — they offer it")
        for skill in self.they_want_you_offer:
            out.append(f"They want {vocab.SKILL_LABELS[skill]} — you offer it")
        if self.shared_languages:
            out.append("Shared languages: " + ", ".join(vocab.language_name(c) for c in self.shared_languages))
        if self.overlap_range[1] > 0:
            out.append(f"School days overlap {self.overlap_text} (live lessons possible)")
        else:
            out.append("School days do not overlap (recorded video exchanges rather than live lessons)")
        return out

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form, sentences included."""
        return {
            "shared_themes": list(self.shared_themes),
            "you_want_they_offer": list(self.you_want_they_offer),
            "they_want_you_offer": list(self.they_want_you_offer),
            "shared_languages": list(self.shared_languages),
            "overlap_hours": self.overlap_hours,
            "same_region": self.same_region,
            "text": self.sentences(),
        }


def reasons_for(
    a: SchoolProfile, b: SchoolProfile, overlap: float | Sequence[float] | np.ndarray, skill_threshold: float = 0.5
) -> Reasons:
    """Reasons that school ``b`` suits school ``a``; ``overlap``: school-day overlap hours in each term (or one
    number for every term)."""
    hours = np.round(np.asarray(overlap, dtype=np.float64).reshape(-1), 1)
    want_a, offer_a = a.skills_want.as_tuple(), a.skills_offer.as_tuple()
    want_b, offer_b = b.skills_want.as_tuple(), b.skills_offer.as_tuple()
    themes_b, languages_b = set(b.themes), set(b.languages)
    return Reasons(
        shared_themes=tuple(t for t in a.themes if t in themes_b),
        you_want_they_offer=tuple(
            s
            for s, w, o in zip(vocab.SKILLS, want_a, offer_b, strict=True)
            if w >= skill_threshold and o >= skill_threshold
        ),
        they_want_you_offer=tuple(
            s
            for s, w, o in zip(vocab.SKILLS, want_b, offer_a, strict=True)
            if w >= skill_threshold and o >= skill_threshold
        ),
        shared_languages=tuple(lang for lang in a.languages if lang in languages_b),
        overlap_hours=round(float(hours.mean()), 1),
        same_region=vocab.region(a.country) == vocab.region(b.country),
        overlap_range=(float(hours.min()), float(hours.max())),
    )


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
