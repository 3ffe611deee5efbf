"""The demo generator's data tables, read once from ``matching/demo/data/*.yaml`` and checked.

``naming.yaml``: the countries of the schools abroad and how their schools are named.
``archetypes.yaml``: a school's main interest (themes, strong skills, description parts) and the
regional bias of those interests. Malformed tables raise ``ConfigError`` naming the file and key.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any, NamedTuple

import yaml

from features import vocab
from matching.errors import ConfigError

N_OPENINGS = 4  # per archetype: the description pool's index arithmetic relies on these counts
N_ACTIVITIES = 5


class Archetype(NamedTuple):
    """A school's main interest: its core theme tags, the skills it is strong in, its description parts."""

    name: str
    weight: float
    themes: tuple[str, ...]
    strong_skills: tuple[str, ...]
    openings: tuple[str, ...]  # {p}: pupils / students
    activities: tuple[str, ...]


@cache
def _load(file: str) -> dict[str, Any]:
    text = files("matching.demo.data").joinpath(file).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ConfigError(f"matching/demo/data/{file}: expected a mapping at the top level")
    return data


def _get(file: str, key: str, kind: type) -> Any:
    value = _load(file).get(key)
    if not isinstance(value, kind):
        raise ConfigError(f"matching/demo/data/{file}: {key} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def _strings(file: str, where: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"matching/demo/data/{file}: {where} must be a non-empty list of strings")
    return tuple(value)


@cache
def countries() -> dict[str, tuple[float, str]]:
    """Countries of the schools abroad: code -> (relative weight in a registry, naming style)."""
    styles = naming_styles()
    out: dict[str, tuple[float, str]] = {}
    for cc, row in _get("naming.yaml", "countries", dict).items():
        weight, style = (row or {}).get("weight"), (row or {}).get("style")
        if not isinstance(weight, int | float) or weight <= 0 or style not in styles:
            raise ConfigError(
                f"matching/demo/data/naming.yaml: countries.{cc}: needs a positive weight and a style "
                f"(one of {', '.join(styles)}), got {row!r}"
            )
        out[str(cc)] = (float(weight), str(style))
    return out


@cache
def naming_styles() -> dict[str, dict[str, tuple[str, ...]]]:
    """Naming styles: patterns per phase group ("primary", "secondary", "all"; optional "vocational")
    and default "patrons"."""
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for name, style in _get("naming.yaml", "styles", dict).items():
        if not isinstance(style, dict) or not {"primary", "secondary", "all"} <= set(style):
            raise ConfigError(f"matching/demo/data/naming.yaml: styles.{name} needs primary, secondary and all")
        out[str(name)] = {str(k): _strings("naming.yaml", f"styles.{name}.{k}", v) for k, v in style.items()}
    return out


@cache
def country_patrons() -> dict[str, tuple[str, ...]]:
    """Patrons that replace a style's for one country."""
    table = _get("naming.yaml", "country_patrons", dict)
    return {str(cc): _strings("naming.yaml", f"country_patrons.{cc}", v) for cc, v in table.items()}


@cache
def generic_patterns() -> dict[str, tuple[str, ...]]:
    """Name patterns for nursery, special and vocational schools, where a style has none."""
    table = _get("naming.yaml", "generic_patterns", dict)
    return {str(ph): _strings("naming.yaml", f"generic_patterns.{ph}", v) for ph, v in table.items()}


@cache
def generic_patrons() -> tuple[str, ...]:
    """Patrons for styles without their own."""
    return _strings("naming.yaml", "generic_patrons", _get("naming.yaml", "generic_patrons", list))


@cache
def archetypes() -> tuple[Archetype, ...]:
    """Every archetype, in file order (their order fixes the description pool and the draws)."""
    themes, skills = set(vocab.themes()), set(vocab.SKILLS)
    out = []
    for i, row in enumerate(_get("archetypes.yaml", "archetypes", list)):
        where = f"archetypes[{i}]"
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            raise ConfigError(f"matching/demo/data/archetypes.yaml: {where} needs a name")
        where = f"archetypes.{row['name']}"
        weight = row.get("weight")
        if not isinstance(weight, int | float) or weight <= 0:
            raise ConfigError(f"matching/demo/data/archetypes.yaml: {where}.weight {weight!r} must be positive")
        a = Archetype(
            row["name"],
            float(weight),
            *(_strings("archetypes.yaml", f"{where}.{k}", row.get(k)) for k in Archetype._fields[2:]),
        )
        for label, values, allowed in (("themes", a.themes, themes), ("strong_skills", a.strong_skills, skills)):
            unknown = [v for v in values if v not in allowed]
            if unknown:
                raise ConfigError(f"matching/demo/data/archetypes.yaml: {where}.{label}: unknown {unknown}")
        if len(a.openings) != N_OPENINGS or len(a.activities) != N_ACTIVITIES:
            raise ConfigError(
                f"matching/demo/data/archetypes.yaml: {where} needs {N_OPENINGS} openings and "
                f"{N_ACTIVITIES} activities, has {len(a.openings)} and {len(a.activities)}"
            )
        out.append(a)
    return tuple(out)


@cache
def closings() -> tuple[str, ...]:
    """The last sentence of a description."""
    return _strings("archetypes.yaml", "closings", _get("archetypes.yaml", "closings", list))


@cache
def region_bias() -> dict[str, dict[str, float]]:
    """Regional interest: archetype weight multipliers by region and archetype name."""
    names = {a.name for a in archetypes()}
    out: dict[str, dict[str, float]] = {}
    for region, row in _get("archetypes.yaml", "region_bias", dict).items():
        if not isinstance(row, dict) or not set(row) <= names:
            raise ConfigError(
                f"matching/demo/data/archetypes.yaml: region_bias.{region} must map archetype names "
                f"({', '.join(sorted(names))}) to multipliers"
            )
        out[str(region)] = {str(k): float(v) for k, v in row.items()}
    return out


@cache
def subregion_bias() -> dict[str, str]:
    """UN M49 subregion code of a country abroad -> its region in ``region_bias`` (else "europe")."""
    regions = region_bias()
    table = _get("archetypes.yaml", "subregion_bias", dict)
    bad = {k: v for k, v in table.items() if v not in regions}
    if bad:
        raise ConfigError(f"matching/demo/data/archetypes.yaml: subregion_bias: unknown region(s) {bad}")
    return {str(k): str(v) for k, v in table.items()}
