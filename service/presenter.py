"""The one presenter: rankings and explanations as the records the API, the page, the CLI and CSV files use.

A suggestion has one record (``suggestion_records``: rank, school_id, score, contributions, reasons,
school card); the API returns it as is, the page adds its score bar to it and the CLI flattens it
(``flat_record``). Reasons have one structured form (``reasons_record``: the API's, sentences included)
and one labelled form for people (``reasons_view``: the page's, from which the CLI's table cell is made).
Every CSV the product writes goes through ``write_csv``/``csv_text``, which neutralise spreadsheet formulas.

Plain data only: nothing here ranks, reads the database or imports the web framework.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from features import vocab
from features.profiles import SchoolProfile
from matching.core.explain import Diagnosis, PairExplanation, Reasons
from matching.core.ranker import Ranking


@dataclass(frozen=True)
class Suggestions:
    """A ranking (it carries its candidates' profiles) and, when nothing is allowed, why (``Ranker.diagnose``)."""

    ranking: Ranking
    diagnosis: Diagnosis | None = None


@dataclass(frozen=True)
class Explained:
    """A pair's explanation and the other school's profile."""

    explanation: PairExplanation
    school: SchoolProfile


# ---------------------------------------------------------------- labels
@functools.lru_cache(maxsize=512)
def country_label(code: str) -> tuple[str, str]:
    """(name, flag) of a country code, looked up once per code."""
    return vocab.country_name(code), vocab.country_flag(code)


def phase_label(phase: str) -> str:
    """``all_through`` -> ``All-through``."""
    return {"all_through": "All-through", "sixth_form": "Sixth form"}.get(phase, phase.replace("_", " ").capitalize())


# Words of a theme label written in capitals (acronyms): "stem" -> "STEM", not "Stem".
# Labels for people live in features.vocab (one home for the API, the page, the CLI and the reasons).
theme_label = vocab.theme_label
language_label = vocab.language_name
city_label = vocab.place_name


# The score in words, by its share of the best possible score (the sum of the weights). On the demo
# registry with the real model, a school's best candidate is a "strong match" about half the time
# and its tenth candidate a "good match" about three times in four.
SCORE_WORDS: tuple[tuple[float, str], ...] = ((0.65, "strong match"), (0.50, "good match"))
WEAKEST_WORDS = "possible match"


def score_words(score: float, scale: float = 1.0) -> str:
    """``strong match`` (at least 65% of the best possible score), ``good match`` (at least 50%) or
    ``possible match`` (below)."""
    share = score / scale if scale > 0 else score
    return next((words for threshold, words in SCORE_WORDS if share >= threshold), WEAKEST_WORDS)


# ---------------------------------------------------------------- records (the API's shapes)
def card(p: SchoolProfile) -> dict[str, Any]:
    """A candidate's public card (``schemas.CandidateSummary``): never a private field."""
    name, flag = country_label(p.country)
    return {
        "school_id": p.school_id, "name": p.name, "city": p.city, "country": p.country, "country_name": name,
        "flag": flag, "phase": p.phase, "age_min": p.age_min, "age_max": p.age_max, "languages": list(p.languages),
        "themes": list(p.themes),
    }  # fmt: skip


def reasons_record(r: Reasons) -> dict[str, Any]:
    """Reasons, structured and as sentences (``schemas.ReasonsOut``)."""
    return r.as_dict(extended=True)


def suggestion_records(s: Suggestions) -> list[dict[str, Any]]:
    """One record per suggestion, best first (``schemas.Suggestion``)."""
    ranking = s.ranking
    components = list(ranking.components)
    return [
        {
            "rank": i + 1,
            "school_id": str(sid),
            "score": float(score),
            "contributions": dict(zip(components, contrib.tolist(), strict=True)),
            "reasons": reasons_record(reasons),
            "school": card(p),
        }
        for i, (sid, score, contrib, reasons, p) in enumerate(
            zip(ranking.ids, ranking.scores, ranking.contributions, ranking.reasons, ranking.profiles, strict=True)
        )
    ]


def rule_counts(diagnosis: Diagnosis | None) -> list[dict[str, Any]] | None:
    """Each rule's and filter's passing count on its own (``schemas.RuleCount``), or None without a diagnosis."""
    if diagnosis is None:
        return None
    return [{"rule": c.rule, "message": c.message, "passing": c.passing} for c in diagnosis.rules]


def suggestion_list(s: Suggestions, k: int) -> dict[str, Any]:
    """The response body of a ranking (``schemas.SuggestionList``)."""
    return {
        "query_id": s.ranking.query_id,
        "k": k,
        "n_allowed": s.ranking.n_allowed,
        "components": list(s.ranking.components),
        "suggestions": suggestion_records(s),
        "empty_because": rule_counts(s.diagnosis),
    }


def blockers(e: PairExplanation) -> list[dict[str, str]]:
    """The hard rules blocking a pair (``schemas.Blocker``)."""
    return [{"rule": r, "message": m} for r, m in e.blocked_by]


def explanation_record(x: Explained) -> dict[str, Any]:
    """The response body of an explanation (``schemas.PairExplanationOut``)."""
    e = x.explanation
    return {
        "a": e.a,
        "b": e.b,
        "allowed": e.allowed,
        "blocked_by": blockers(e),
        "score": e.score,
        "contributions": dict(e.contributions),
        "reasons": reasons_record(e.reasons),
        "school": card(x.school),
        "text": e.sentences(),
    }


# ---------------------------------------------------------------- for people (the page and the CLI)
def reasons_view(r: Reasons, theirs: SchoolProfile | None = None) -> dict[str, Any]:
    """Reasons with labels: their themes (shared ones first and marked; only the shared ones without ``theirs``),
    skills each way, languages in common, the school-day overlap, and the sentences."""
    shared = set(r.shared_themes)
    tags = theirs.themes if theirs is not None else r.shared_themes
    themes = [{"label": theme_label(t), "shared": t in shared} for t in tags]
    themes.sort(key=lambda t: not t["shared"])  # shared first, order otherwise kept
    return {
        "themes": themes,
        "n_shared_themes": len(shared),
        "you_want": [vocab.SKILL_LABELS[s] for s in r.you_want_they_offer],
        "they_want": [vocab.SKILL_LABELS[s] for s in r.they_want_you_offer],
        "languages": [language_label(c) for c in r.shared_languages],
        "overlap_hours": r.overlap_hours,
        "overlap_range": list(r.overlap_range),
        "overlap_text": r.overlap_text,
        "same_region": r.same_region,
        "sentences": r.sentences(),
    }


def compact_reasons(r: Reasons) -> str:
    """Reasons in a few short lines (a table cell), from ``reasons_view``."""
    view = reasons_view(r)
    lines = []
    if view["themes"]:
        lines.append("Themes: " + ", ".join(t["label"] for t in view["themes"]))
    if view["you_want"]:
        lines.append("They offer what you want: " + ", ".join(view["you_want"]))
    if view["they_want"]:
        lines.append("You offer what they want: " + ", ".join(view["they_want"]))
    if view["languages"]:
        lines.append("Languages: " + ", ".join(view["languages"]))
    overlaps = view["overlap_range"][1] > 0
    lines.append(f"School days overlap {view['overlap_text']}" if overlaps else "No school-day overlap")
    return "\n".join(lines)


def flat_record(record: Mapping[str, Any], digits: int = 4) -> dict[str, Any]:
    """A suggestion record with the card's fields inline and numbers rounded (the CLI's ``--json``)."""
    school = record["school"]
    return {
        "rank": record["rank"],
        "school_id": record["school_id"],
        "name": school["name"],
        "country": school["country"],
        "city": school["city"],
        "phase": school["phase"],
        "ages": [school["age_min"], school["age_max"]],
        "languages": school["languages"],
        "score": round(record["score"], digits),
        "contributions": {c: round(v, digits) for c, v in record["contributions"].items()},
        "reasons": record["reasons"],
    }


def explanation_names(e: PairExplanation, a: SchoolProfile, b: SchoolProfile) -> dict[str, Any]:
    """An explanation with both schools' names and countries (the CLI's ``explain --json``)."""
    data = e.as_dict()
    for side, p in (("a", a), ("b", b)):
        data[f"{side}_name"] = p.name
        data[f"{side}_country"] = p.country
    return data
