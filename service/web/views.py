"""What the page shows, built from the registry's answers: no matching here, only presentation.

Rankings, explanations and rule counts come from ``service.registry.Registry`` (the same calls the
API makes) and their records from ``service.presenter`` (the same records the API returns); this module
adds what only the page shows (score bars, labels) and reads the page's request parameters with
messages a person can act on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from starlette.datastructures import QueryParams

from features import vocab
from features.profiles import SchoolProfile
from matching.core.config import COMPONENTS
from matching.core.explain import Diagnosis, Reasons
from matching.core.filters import FilterError, RequestFilters, parse_filters
from matching.core.rules import RULES, filter_rules
from service import presenter
from service.presenter import Suggestions
from service.registry import Registry
from service.web import labels
from service.web.i18n import N_
from service.web.i18n import gettext as _
from service.web.labels import phase_label

PAGE_SIZE = 10
# A description longer than this shows its first part and a "More" disclosure for the rest.
DESCRIPTION_EXCERPT = 300

COMPONENT_LABELS: dict[str, str] = {
    "country": N_("Country and region"),
    "phase": N_("Phase and ages"),
    "themes": N_("Themes and description"),
    "skills": N_("Similar skills"),
    "complementarity": N_("Skills each way"),
    "timezone_overlap": N_("School-day overlap"),
    "readiness": N_("Partner readiness"),
    "wishes": N_("Stated wishes"),
}
# Components that only ever take points off (never a segment of the bar, so not in its legend).
DEDUCTIONS = frozenset({"wishes"})
COMPONENT_HELP: dict[str, str] = {
    "country": N_("countries and regions the schools are interested in"),
    "phase": N_("how close the phases and pupil ages are"),
    "themes": N_("shared themes and how alike the descriptions read"),
    "skills": N_("how alike the two skills profiles are"),
    "complementarity": N_("what one school wants and the other offers, both ways"),
    "timezone_overlap": N_("hours both school days run at once (live lessons)"),
    "readiness": N_("the candidate's International School Award and staff CPD"),
    "wishes": N_("points off when either school's stated wishes (countries, phases, kinds of work) are not met"),
}
# The page's form field for each request-filter field (``RequestFilters``); the filter rules come from the registry.
PAGE_FIELDS: dict[str, str] = {"countries": "countries", "phases": "phase", "max_timezone_difference": "max_tz"}


class PageInputError(ValueError):
    """A page parameter a person can correct: ``field`` names it, the message says what is allowed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def country_label(code: str) -> str:
    """The country's name in the page language (no flag: templates add the flag separately, hidden from
    screen readers)."""
    return labels.country_name(code)


# ---------------------------------------------------------------- request parameters
@dataclass(frozen=True)
class PageFilters:
    """The filters as the page's form sends them."""

    countries: tuple[str, ...] = ()
    phase: str = ""
    max_tz: float | None = None

    @classmethod
    def parse(cls, params: QueryParams) -> PageFilters:
        """Read ``countries`` (repeated or comma-separated; UK for GB), ``phase`` and ``max_tz`` (hours)
        with the core's one parser (``parse_filters``)."""
        try:
            f = parse_filters(
                params.getlist("countries"), params.get("phase", ""), params.get("max_tz", ""), names=PAGE_FIELDS
            )
        except FilterError as exc:
            raise PageInputError(exc.field, exc.reason) from None
        if len(f.phases) > 1:
            raise PageInputError("phase", _("choose one phase, not %(n)s") % {"n": len(f.phases)})
        return cls(f.countries, f.phases[0] if f.phases else "", f.max_timezone_difference)

    @property
    def active(self) -> bool:
        """Whether any filter is set."""
        return self.request_filters().active

    def request_filters(self) -> RequestFilters:
        """The core's request filters."""
        return RequestFilters(
            countries=self.countries, phases=(self.phase,) if self.phase else (), max_timezone_difference=self.max_tz
        )

    def without(self, rule: str) -> PageFilters:
        """The same filters less one filter rule (``country_filter``, ``phase_filter``, ``timezone_filter``)."""
        field = PAGE_FIELDS[RULES[rule].param or ""]
        return replace(self, **{field: None if field == "max_tz" else type(getattr(self, field))()})

    def set_rules(self) -> list[str]:
        """The filter rules in force."""
        request = self.request_filters()
        return [r for r in filter_rules() if request.is_set(RULES[r].param or "")]

    def describe(self, rule: str) -> str:
        """A filter in words, as the school set it."""
        param = RULES[rule].param
        if param == "countries":
            names = labels.join(country_label(c) for c in self.countries)
            return _("the country filter (%(countries)s)") % {"countries": names}
        if param == "phases":
            return _("the phase filter (%(phase)s)") % {"phase": phase_label(self.phase)}
        return _("the time-zone filter (at most %(hours)s h apart)") % {"hours": labels.hours(self.max_tz or 0.0)}

    def query_items(self) -> list[tuple[str, str]]:
        """The filters as query parameters (for links that keep them)."""
        items = [("countries", c) for c in self.countries]
        if self.phase:
            items.append(("phase", self.phase))
        if self.max_tz is not None:
            items.append(("max_tz", f"{self.max_tz:g}"))
        return items


def parse_shown(params: QueryParams, max_k: int) -> int:
    """How many candidates to show: a positive whole number, at most ``max_k``."""
    raw = params.get("shown", "").strip()
    if not raw:
        return min(PAGE_SIZE, max_k)
    if not raw.isdigit() or int(raw) < 1:
        raise PageInputError("shown", _("%(value)r is not a positive whole number") % {"value": raw})
    return min(int(raw), max_k)


# ---------------------------------------------------------------- profile and cards
def skill_names(levels: Mapping[str, float], threshold: float) -> list[str]:
    """Labels of the skills at or above the threshold, strongest first, in the page language."""
    chosen = sorted(((v, s) for s, v in levels.items() if v >= threshold), reverse=True)
    return [labels.skill_label(s) for _v, s in chosen]


def excerpt(text: str, limit: int = DESCRIPTION_EXCERPT, lang: str | None = None) -> dict[str, str]:
    """A text as ``short`` (all of it, or its first words up to ``limit`` characters) and ``rest`` (the
    remainder, shown behind a "More" disclosure; empty when the text is short), and its ISO 639-1 ``lang``
    (empty when unknown; the page marks the description with it). Templates escape all three."""
    text = text.strip()
    if len(text) <= limit:
        return {"short": text, "rest": "", "lang": lang or ""}
    cut = text.rfind(" ", 0, limit + 1)
    cut = cut if cut > limit // 2 else limit  # one very long word: cut inside it
    return {"short": text[:cut].rstrip(), "rest": text[cut:].strip(), "lang": lang or ""}


def profile_view(p: SchoolProfile, threshold: float) -> dict[str, Any]:
    """A school's summary for the page: public fields only (never the contact e-mail)."""
    return {
        "school_id": p.school_id,
        "name": p.name,
        "flag": presenter.country_label(p.country)[1],
        "country": p.country,
        "country_name": country_label(p.country),
        "city": presenter.city_label(p.city),
        "region": p.region,
        "phase": phase_label(p.phase),
        "ages": labels.ages(p.age_min, p.age_max),
        "languages": [labels.language_name(c) for c in p.languages],
        "themes": [labels.theme_label(t) for t in p.themes],
        "description": excerpt(p.description, lang=p.description_language),
        "wants": skill_names(p.skills_want.model_dump(), threshold),
        "offers": skill_names(p.skills_offer.model_dump(), threshold),
        "capacity": p.capacity,
        "free": p.free_capacity,
        "n_partners": len(p.current_partners),
        "accepting": bool(p.active and p.free_capacity > 0),
        "active": p.active,
        "timezone": p.timezone,
        "isa_status": p.isa_status,
        "cpd_badge": vocab.cpd_badge(p.staff_cpd_credits),
        "last_active": p.last_active,
        "is_uk": p.country == vocab.UK,
    }


def score_bar(score: float, contributions: Mapping[str, float], scale: float) -> dict[str, Any]:
    """Segments (one per component with a positive part, width in % of the best possible score) and words."""
    scale = scale if scale > 0 else 1.0
    segments, x = [], 0.0
    for c in COMPONENTS:
        value = float(contributions.get(c, 0.0))
        width = round(100.0 * max(value, 0.0) / scale, 2)
        segments.append({"component": c, "label": _(COMPONENT_LABELS[c]), "value": value, "width": width, "x": x})
        x = round(x + width, 2)
    parts = [s for s in segments if abs(s["value"]) >= 0.0005]
    words = labels.join(f"{s['label']} {labels.number(s['value'])}" for s in sorted(parts, key=lambda s: -s["value"]))
    match = labels.score_words(presenter.score_words(score, scale))
    text = _("Score %(score)s of a possible %(best)s, a %(words)s") % {
        "score": labels.number(score),
        "best": labels.number(scale),
        "words": match,
    }
    return {
        "score": float(score),
        "words": match,
        "percent": round(100.0 * max(score, 0.0) / scale),
        "segments": [s for s in segments if s["width"] > 0],
        "negative": [s for s in segments if s["value"] <= -0.0005],
        "all": segments,
        "text": text + (_(": %(parts)s") % {"parts": words} if words else ""),
    }


def card_view(
    record: Mapping[str, Any], reasons: Reasons, p: SchoolProfile, scale: float, decision: str | None
) -> dict[str, Any]:
    """One candidate card: the presenter's suggestion record, with the page's labels, score bar and reasons."""
    school = record["school"]
    return {
        "rank": record["rank"],
        "school_id": record["school_id"],
        "name": school["name"],
        "flag": school["flag"],
        "country": school["country"],
        "country_name": country_label(school["country"]),
        "city": presenter.city_label(school["city"]),
        "phase": phase_label(school["phase"]),
        "ages": labels.ages(school["age_min"], school["age_max"]),
        "description": excerpt(p.description, lang=p.description_language),
        "bar": score_bar(record["score"], record["contributions"], scale),
        "reasons": page_reasons(reasons, p),
        "decision": decision,
    }


def page_reasons(reasons: Reasons, theirs: SchoolProfile) -> dict[str, Any]:
    """A pair's reasons in the page language, from their structured record (the API's extended reasons)."""
    return labels.reasons_view(presenter.reasons_record(reasons), theirs.themes, reasons.overlap_range)


def legend() -> list[dict[str, str]]:
    """The score bar's legend: each component and what it measures."""
    return [
        {"component": c, "label": _(COMPONENT_LABELS[c]), "help": _(COMPONENT_HELP[c])}
        for c in COMPONENTS
        if c not in DEDUCTIONS
    ]


# ---------------------------------------------------------------- decisions (feedback)
def decisions(registry: Registry, school_id: str, limit: int = 1000) -> dict[str, str]:
    """The school's latest decision on each candidate (``accept`` or ``decline``)."""
    rows, _n = registry.feedback(school_id=school_id, limit=limit)
    out: dict[str, str] = {}
    for row in rows:  # newest first: the first seen is the latest
        out.setdefault(row.candidate_id, row.decision)
    return out


# ---------------------------------------------------------------- the candidate list
@dataclass
class CandidateList:
    """What the list part of the school page shows."""

    cards: list[dict[str, Any]] = field(default_factory=list)
    n_allowed: int = 0
    n_hidden: int = 0  # declined candidates that pass the filters and are hidden
    has_more: bool = False
    empty: dict[str, Any] | None = None  # why the list is empty, when it is


def _scale(registry: Registry) -> float:
    """The best possible score: every weight but those of parts that only take points off."""
    return float(sum(w for c, w in registry.config.weights.as_dict().items() if c not in DEDUCTIONS))


def candidate_list(
    registry: Registry,
    school_id: str,
    filters: PageFilters,
    shown: int,
    max_k: int,
    show_declined: bool,
    decided: Mapping[str, str],
) -> CandidateList:
    """The best ``shown`` candidates (declined ones left out unless asked for), or why there are none."""
    declined = [] if show_declined else [c for c, d in decided.items() if d == "decline"]
    found = registry.suggest(school_id, min(shown, max_k), filters.request_filters(), None, exclude=declined)
    ranking = found.ranking
    out = CandidateList(n_allowed=ranking.n_allowed + ranking.n_excluded, n_hidden=ranking.n_excluded)
    out.cards = _cards(registry, found, decided)
    out.has_more = len(out.cards) < ranking.n_allowed and shown < max_k
    if not out.cards:
        diagnosis = found.diagnosis or registry.diagnose(school_id, filters.request_filters(), exclude=declined)
        out.empty = empty_reason(filters, diagnosis)
    return out


def _cards(registry: Registry, found: Suggestions, decided: Mapping[str, str]) -> list[dict[str, Any]]:
    scale = _scale(registry)
    records = presenter.suggestion_records(found)
    return [
        card_view(record, reasons, p, scale, decided.get(record["school_id"]))
        for record, reasons, p in zip(records, found.ranking.reasons, found.ranking.profiles, strict=True)
    ]


def empty_reason(filters: PageFilters, diagnosis: Diagnosis) -> dict[str, Any]:
    """Why nothing is shown (``Ranker.diagnose``): every candidate declined, a filter, the filters together,
    or a hard rule."""
    if diagnosis.n_allowed == 0 and diagnosis.n_excluded > 0:
        return {"kind": "all_declined", "n": diagnosis.n_excluded}
    if filters.active:
        culprits = [
            {"rule": rule, "text": filters.describe(rule), "n": n}
            for rule in filters.set_rules()
            if (n := diagnosis.without_filter.get(rule, 0)) > 0
        ]
        if culprits:
            return {"kind": "filters", "culprits": culprits}
        if diagnosis.n_unfiltered > 0:
            return {
                "kind": "filters_together",
                "text": " and ".join(filters.describe(r) for r in filters.set_rules()),
                "n": diagnosis.n_unfiltered,
            }
    rules = [
        {"rule": c.rule, "message": labels.rule_message(c.rule, c.message), "passing": c.passing}
        for c in diagnosis.blocking(filters=False)
    ]
    return {"kind": "rules", "rules": rules}


# ---------------------------------------------------------------- why not?
def resolve_school(registry: Registry, text: str, limit: int = 8) -> tuple[str | None, list[SchoolProfile]]:
    """An exact id, or the one school whose name matches; otherwise the matches to choose from."""
    text = text.strip()
    if text in registry.index:
        return text, []
    matches, _n = registry.list_schools(q=text, limit=limit)
    if len(matches) == 1:
        return matches[0].school_id, []
    return None, matches


def why_not_view(registry: Registry, school_id: str, other_id: str, filters: PageFilters) -> dict[str, Any]:
    """Whether ``other_id`` can be suggested to the school, what blocks it, and how it would score."""
    explained = registry.explain(school_id, other_id, filters.request_filters())
    explanation, other = explained.explanation, explained.school
    record = presenter.explanation_record(explained)
    blockers = [
        {**b, "message": labels.rule_message(b["rule"], b["message"]), "is_filter": RULES[b["rule"]].is_filter}
        for b in record["blocked_by"]
    ]
    school = record["school"]
    return {
        "school_id": other_id,
        "name": school["name"],
        "flag": school["flag"],
        "country_name": country_label(school["country"]),
        "city": presenter.city_label(school["city"]),
        "phase": phase_label(school["phase"]),
        "ages": labels.ages(school["age_min"], school["age_max"]),
        "description": excerpt(other.description, lang=other.description_language),
        "allowed": record["allowed"],
        "blockers": blockers,
        "only_filters": bool(blockers) and all(b["is_filter"] for b in blockers),
        "bar": score_bar(record["score"], record["contributions"], _scale(registry)),
        "reasons": page_reasons(explanation.reasons, other),
    }


_COUNTRIES: dict[tuple[int, int], frozenset[str]] = {}  # registered countries per index version


def country_choices(registry: Registry, own_country: str, selected: Sequence[str] = ()) -> list[dict[str, str]]:
    """Countries of the registered schools on the other side of the border: the selected ones first, then by name."""
    with registry.holder.read() as snap:
        index = snap.index
        key = (id(index), index.version)
        codes = _COUNTRIES.get(key)
        if codes is None:
            cols = index.cols()
            codes = frozenset(str(c) for c in np.unique(cols.country[cols.present]))
            _COUNTRIES.clear()  # one index version at a time
            _COUNTRIES[key] = codes
    if registry.config.constraints.cross_border:
        uk = own_country == vocab.UK
        codes = {c for c in codes if (c == vocab.UK) != uk}
    return sorted(
        ({"code": c, "name": country_label(c), "flag": vocab.country_flag(c)} for c in codes),
        key=lambda c: (c["code"] not in selected, c["name"]),
    )
