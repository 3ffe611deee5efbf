"""What the page shows in the reader's language: country and language names (CLDR), numbers and dates (Babel),
theme, skill, phase and score labels (the catalogues, SDG names from ``locale/sdg``), and reasons rebuilt
from their structured parts (``Reasons.as_dict(extended=True)``) with translated sentences.

Free-text parts of the reasons made by the matching core (wishes met and not met, the description-language
note) and rule messages stay in English: they have no structured form yet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.lists import format_list
from babel.numbers import format_decimal

from features import vocab
from service.web.i18n import DEFAULT, N_, current_locale, gettext, ngettext, sdg_names

# Labels made elsewhere in English, marked here so the catalogues carry them (tests check every one is).
SKILL_LABELS: dict[str, str] = {
    "critical_thinking": N_("critical thinking and problem solving"),
    "creativity": N_("creativity and imagination"),
    "digital_literacy": N_("digital literacy"),
    "citizenship": N_("citizenship"),
    "student_leadership": N_("student leadership"),
    "collaboration": N_("collaboration and communication"),
}
PHASE_LABELS: dict[str, str] = {
    "nursery": N_("Nursery"),
    "primary": N_("Primary"),
    "secondary": N_("Secondary"),
    "all_through": N_("All-through"),
    "sixth_form": N_("Sixth form"),
    "special": N_("Special"),
    "vocational": N_("Vocational"),
}
SUBJECT_LABELS: dict[str, str] = {
    "english": N_("English"),
    "mathematics": N_("Mathematics"),
    "science": N_("Science"),
    "computing": N_("Computing"),
    "history": N_("History"),
    "geography": N_("Geography"),
    "art_and_design": N_("Art and design"),
    "music": N_("Music"),
    "drama": N_("Drama"),
    "physical_education": N_("Physical education"),
    "modern_languages": N_("Modern languages"),
    "religious_education": N_("Religious education"),
    "citizenship_education": N_("Citizenship education"),
    "design_and_technology": N_("Design and technology"),
    "economics": N_("Economics"),
    "literacy": N_("Literacy"),
    "stem": N_("STEM"),
    "global_learning": N_("Global learning"),
    "cultural_heritage": N_("Cultural heritage"),
    "environment": N_("Environment"),
    "wellbeing": N_("Wellbeing"),
    "inclusion": N_("Inclusion"),
}
SCORE_WORDS: dict[str, str] = {
    "strong match": N_("strong match"),
    "good match": N_("good match"),
    "possible match": N_("possible match"),
}
LEVEL_LABELS: dict[str, str] = {  # International School Award levels and CPD badges
    "none": N_("none"),
    "foundation": N_("Foundation"),
    "intermediate": N_("Intermediate"),
    "full": N_("Full"),
    "bronze": N_("Bronze"),
    "silver": N_("Silver"),
    "gold": N_("Gold"),
    "platinum": N_("Platinum"),
}
# The ranker's note on a candidate shown less (many unanswered partnership requests: the exposure cap).
SHOWN_LESS = N_("Many unanswered partnership requests: shown less")
TEXT_NOTE = N_(
    "The description is in a language the text model does not cover: matching leans on country, phase, ages, "
    "themes and skills for this school"
)
RULE_MESSAGES = {  # the core's rule messages (matching.core.rules.RULES), for the catalogue; a test keeps them equal
    "cross_border": N_("both schools are on the same side of the border (UK schools pair with schools abroad)"),
    "phase_compatible": N_("their phases teach different age bands"),
    "ages_overlap": N_("their pupil age ranges do not overlap"),
    "shared_language": N_("they share no language"),
    "candidate_available": N_("the candidate is not taking partners (inactive, no free capacity, or the same school)"),
    "not_already_partners": N_("they are already partners"),
    "not_excluded": N_("one of the schools has excluded the other"),
    "country_filter": N_("the candidate's country is not among the requested countries"),
    "phase_filter": N_("the candidate's phase is not among the requested phases"),
    "timezone_filter": N_("the time-zone difference is above the requested maximum"),
}
KIND_LABELS = {
    "video_exchanges": N_("video exchanges"),
    "joint_project": N_("a joint project"),
    "teacher_visits": N_("teacher visits"),
    "pen_pals": N_("pen pals"),
}
_SDG_TAG = re.compile(r"^sdg(\d+)_")


def _locale() -> str:
    return current_locale()


def _cldr() -> str:
    """The CLDR locale for names, numbers and dates (English is British English)."""
    code = current_locale()
    return "en_GB" if code == DEFAULT else code


# ---------------------------------------------------------------- names
def country_name(code: str) -> str:
    """A country's name: the programme's English name in English, CLDR's in the other languages."""
    loc = _locale()
    if loc == DEFAULT:
        return vocab.country_name(code)
    return Locale.parse(loc).territories.get(code) or vocab.country_name(code)


def language_name(code: str) -> str:
    """A language's name in the page language (CLDR)."""
    name = Locale.parse(_cldr()).languages.get(code)
    return name if name else vocab.language_name(code)


def theme_label(tag: str) -> str:
    """A theme: an SDG as its short name in the page language and its number, a subject from the catalogue."""
    if _locale() == DEFAULT:
        return vocab.theme_label(tag)
    match = _SDG_TAG.match(tag)
    if match:
        number = int(match.group(1))
        return gettext("%(name)s (SDG %(number)s)") % {"name": sdg_names(_locale())[number], "number": number}
    label = SUBJECT_LABELS.get(tag)
    return gettext(label) if label else vocab.theme_label(tag)


def skill_label(skill: str) -> str:
    """A skill's label in the page language."""
    return gettext(SKILL_LABELS[skill])


def phase_label(phase: str) -> str:
    """A phase's label in the page language."""
    label = PHASE_LABELS.get(phase)
    return gettext(label) if label else phase


def level_label(level: str) -> str:
    """An ISA level or CPD badge in the page language."""
    label = LEVEL_LABELS.get(level)
    return gettext(label) if label else level


def score_words(words: str) -> str:
    """``strong match`` and the like in the page language."""
    return gettext(SCORE_WORDS.get(words, words))


def join(items: Iterable[str]) -> str:
    """Items as a list in the page language (``a, b``; ``a، b`` in Arabic)."""
    return gettext(", ").join(items)


# ---------------------------------------------------------------- numbers and dates
def number(value: float, pattern: str = "0.00") -> str:
    """A number in the page language's digits and separators (Babel, CLDR)."""
    return format_decimal(value, format=pattern, locale=_cldr())


def hours(value: float) -> str:
    """Hours as few digits as needed (``4``, ``4.5``; ``4,5`` in French)."""
    return format_decimal(value, format="0.#", locale=_cldr())


def day(value: date | datetime | None, style: str = "medium") -> str:
    """A date in the page language (``3 Mar 2026``, ``3 mars 2026``), empty for none."""
    if value is None:
        return ""
    return format_date(value, format=style, locale=_cldr())


def ages(low: int, high: int, dash: str = "–") -> str:
    """An age range with localised digits (``7–11``; the reasons' sentences write ``7-11``, as the core's)."""
    return f"{number(low, '0')}{dash}{number(high, '0')}"


# ---------------------------------------------------------------- reasons
def reasons_view(
    record: Mapping[str, Any], their_themes: Sequence[str] | None, overlap_range: Sequence[float] | None = None
) -> dict[str, Any]:
    """Reasons for the page, from their structured record (``Reasons.as_dict(extended=True)``): their themes
    (shared first and marked), skills each way, languages in common, the school-day overlap, and sentences,
    all in the page language. ``overlap_range``: least and most hours over the terms (else the mean twice)."""
    shared_themes = list(record.get("shared_themes", ()))
    shared = set(shared_themes)
    tags = list(their_themes) if their_themes is not None else shared_themes
    themes = [{"label": theme_label(t), "shared": t in shared} for t in tags]
    themes.sort(key=lambda t: not t["shared"])
    mean = float(record.get("overlap_hours", 0.0))
    low, high = (float(overlap_range[0]), float(overlap_range[1])) if overlap_range else (mean, mean)
    overlap_text = (
        gettext("%(hours)s h") % {"hours": hours(high)}
        if low == high
        else (gettext("%(low)s-%(high)s h") % {"low": hours(low), "high": hours(high)})
    )
    return {
        "themes": themes,
        "n_shared_themes": len(shared),
        "you_want": [skill_label(s) for s in record.get("you_want_they_offer", ())],
        "they_want": [skill_label(s) for s in record.get("they_want_you_offer", ())],
        "languages": [language_name(c) for c in record.get("shared_languages", ())],
        "overlap_hours": mean,
        "overlap_hours_text": hours(mean),
        "overlap_range": [low, high],
        "overlap_text": overlap_text,
        "same_region": bool(record.get("same_region", False)),
        "shown_less": bool(record.get("shown_less")),
        "sentences": sentences(record, overlap_text, high),
    }


def sentences(record: Mapping[str, Any], overlap_text: str, most_hours: float) -> list[str]:
    """The reasons as sentences in the page language, most specific first (as ``Reasons.sentences``)."""
    out: list[str] = []
    a0, a1, b0, b1 = [*(record.get("ages") or ()), 0, 0, 0, 0][:4]
    if a1:
        n = int(record.get("years_in_common", 0))
        out.append(
            ngettext(
                "Ages %(yours)s and %(theirs)s: %(num)s year in common",
                "Ages %(yours)s and %(theirs)s: %(num)s years in common",
                n,
            )
            % {"yours": ages(a0, a1, "-"), "theirs": ages(b0, b1, "-"), "num": number(n, "0")}
        )
    if record.get("shared_themes"):
        out.append(
            gettext("Shared themes: %(themes)s") % {"themes": join(theme_label(t) for t in record["shared_themes"])}
        )
    for s in record.get("you_want_they_offer", ()):
        out.append(gettext("You want %(skill)s — they offer it") % {"skill": skill_label(s)})
    for s in record.get("they_want_you_offer", ()):
        out.append(gettext("They want %(skill)s — you offer it") % {"skill": skill_label(s)})
    if record.get("shared_strengths"):
        out.append(
            gettext("Both offer %(skills)s") % {"skills": join(skill_label(s) for s in record["shared_strengths"])}
        )
    if record.get("both_lack"):
        skills = join(skill_label(s) for s in record["both_lack"])
        out.append(gettext("Both want %(skills)s — neither offers it") % {"skills": skills})
    suits, wants, unmet = wish_lines(record)
    if suits:
        out.append(gettext("Why they suit you: %(why)s") % {"why": "; ".join(suits)})
    if wants:
        out.append(gettext("Why they would want you: %(why)s") % {"why": "; ".join(wants)})
    if unmet:
        out.append(gettext("Not as wished: %(why)s") % {"why": "; ".join(unmet)})
    if record.get("shared_languages"):
        names = join(language_name(c) for c in record["shared_languages"])
        out.append(gettext("Shared languages: %(languages)s") % {"languages": names})
    if most_hours > 0:
        out.append(gettext("School days overlap %(hours)s (live lessons possible)") % {"hours": overlap_text})
    else:
        out.append(gettext("School days do not overlap (recorded video exchanges rather than live lessons)"))
    note = record.get("text_note")
    if note and _locale() != DEFAULT:
        out.append(gettext(TEXT_NOTE))
    elif note:  # English: the core's sentence, which also names the language and the model
        out.append(str(note)[:1].upper() + str(note)[1:])
    if record.get("shown_less"):  # the ranker's exposure note (``RankedReasons.shown_less``)
        out.append(gettext(SHOWN_LESS))
    return out


def rule_message(rule: str, message: str) -> str:
    """A hard rule's or filter's message in the page language (``message``, the core's English, for a rule the
    catalogue does not know, e.g. one added since)."""
    known = RULE_MESSAGES.get(rule)
    return gettext(known) if known == message else message


# ---------------------------------------------------------------- wishes
def wish_lines(record: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """``(why they suit you, why they would want you, not as wished)`` in the page language: from the structured
    wishes (``your_wishes`` / ``their_wishes``) where the record has them and the page is not English, else the
    core's own English lines."""
    parts = record.get("your_wishes"), record.get("their_wishes")
    if _locale() == DEFAULT or parts[0] is None or parts[1] is None:
        return (
            list(record.get("suits_you", ())),
            list(record.get("would_want_you", ())),
            list(record.get("wishes_unmet", ())),
        )
    yours, theirs = parts
    unmet = [gettext("you asked for %(wish)s") % {"wish": wish_text(w)} for w in yours if not w["met"]]
    unmet += [gettext("they asked for %(wish)s") % {"wish": wish_text(w)} for w in theirs if not w["met"]]
    return [wish_text(w) for w in yours if w["met"]], [wish_text(w) for w in theirs if w["met"]], unmet


def place_name(code: str) -> str:
    """A country (ISO code) or a UN M49 region (code) in the page language."""
    if len(code) == 2 and code.isalpha():
        return country_name(code)
    return Locale.parse(_cldr()).territories.get(code) or vocab.m49_name(code)


def or_list(items: Iterable[str]) -> str:
    """``a, b or c`` in the page language (CLDR's list patterns)."""
    return format_list(list(items), style="or", locale=_cldr())


def wish_text(wish: Mapping[str, Any]) -> str:
    """One wish (``matching.core.explain.WishPart.as_dict()``), met or not, in the page language."""
    kind, met, values = wish["kind"], bool(wish["met"]), list(wish["values"])
    if kind in ("country", "region"):
        if not met:
            return gettext("schools in %(places)s") % {"places": or_list(place_name(v) for v in values)}
        if kind == "country":
            return gettext("in %(place)s, a country asked for") % {"place": place_name(values[0])}
        return gettext("in %(place)s, a region asked for") % {"place": place_name(values[0])}
    if kind == "phase":
        phases = [phase_label(v).lower() for v in values]
        if met:
            return gettext("a %(phase)s school, as asked for") % {"phase": phases[0]}
        return gettext("%(phases)s schools") % {"phases": or_list(phases)}
    kinds = [gettext(KIND_LABELS[v]) if v in KIND_LABELS else v for v in values]
    return gettext("also wants %(kinds)s") % {"kinds": join(kinds)} if met else or_list(kinds)
