"""Ranker configuration: component weights, constraint switches, diversity. Loadable from JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from features import vocab
from matching.core.rules import hard_rules
from matching.errors import ConfigError

# Score components, in the order of a Ranking's contribution columns.
COMPONENTS: tuple[str, ...] = (
    "country",
    "phase",
    "themes",
    "skills",
    "complementarity",
    "timezone_overlap",
    "readiness",
    "wishes",
)


class Weights(BaseModel):
    """Weight of each score component (each lies in [0, 1], cosines in [-1, 1], ``wishes`` in [-1, 0]).

    ``phase``: the age fit (years in common, relative to each school's range); ``skills``: shared strengths
    (what both offer); ``complementarity``: what each school wants and the other offers, each way;
    ``wishes``: both schools' stated wishes (0 when met or none stated).
    """

    model_config = ConfigDict(extra="forbid")

    country: float = Field(0.10, ge=0)
    phase: float = Field(0.10, ge=0)
    themes: float = Field(0.45, ge=0)
    skills: float = Field(0.05, ge=0)
    complementarity: float = Field(0.15, ge=0)
    timezone_overlap: float = Field(0.10, ge=0)
    readiness: float = Field(0.05, ge=0)
    wishes: float = Field(0.30, ge=0)

    def as_dict(self) -> dict[str, float]:
        """Weights in ``COMPONENTS`` order."""
        return {c: float(getattr(self, c)) for c in COMPONENTS}


class _ConstraintSwitches(BaseModel):
    """Which hard constraints are on (all by default): one switch per rule of kind "rule" in ``rules.RULES``."""

    model_config = ConfigDict(extra="forbid")

    def enabled(self) -> tuple[str, ...]:
        """Names of the rules that are on, in registry order (a rule registered after this model was
        built, e.g. by a test, has no switch and is on)."""
        return tuple(r for r in hard_rules() if getattr(self, r, True))


Constraints = create_model(
    "Constraints",
    __base__=_ConstraintSwitches,
    __module__=__name__,
    **{name: (bool, True) for name in hard_rules()},  # type: ignore[call-overload]
)
Constraints.__doc__ = _ConstraintSwitches.__doc__


class Diversity(BaseModel):
    """How the top k is kept from coming all from one country."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["none", "country_cap", "mmr"] = "country_cap"
    max_per_country: int = Field(3, ge=1)
    mmr_lambda: float = Field(0.8, ge=0, le=1)
    pool: int = Field(10, ge=1, description="candidates considered = k * pool")


class Exposure(BaseModel):
    """Spreading suggestions, two ways (0: off):

    * ``prior`` (0.1 by default: docs/evaluation.md has the figures): a popularity prior computed at fit time
      (``Ranker.fit_exposure``; the service fits it when it builds an index snapshot): how many of the top-``k``
      lists of ``sample`` asking schools each candidate is in without it; a candidate's score is multiplied by
      ``(1 + shown / mean shown) ** -prior``, so the schools that would top every list are shown less often;
    * ``penalty``: a candidate loses this share of its mean score from the asking school's side (linear: the
      mean query's product, taken off the query vector).
    """

    model_config = ConfigDict(extra="forbid")

    prior: float = Field(0.1, ge=0, le=4, description="exponent of the popularity prior (0: off)")
    penalty: float = Field(0.0, ge=0, le=2, description="share of a candidate's mean score taken off")
    sample: int = Field(2000, ge=1, description="asking schools whose lists the prior counts")
    k: int = Field(10, ge=1, le=100, description="length of the lists the prior counts")


class Priorities(BaseModel):
    """Programme priorities: a weight per candidate country (ISO code) or region (UN M49 code or name) that
    multiplies the candidate's score (1: neutral; above 1: shown more). A country's own weight wins over its
    sub-region's, which wins over its region's."""

    model_config = ConfigDict(extra="forbid")

    countries: dict[str, float] = Field(default_factory=dict, description="ISO 3166-1 alpha-2 code: weight")
    regions: dict[str, float] = Field(default_factory=dict, description="UN M49 region or sub-region: weight")

    @field_validator("countries", mode="before")
    @classmethod
    def _check_countries(cls, v: Any) -> Any:
        if not isinstance(v, Mapping):
            return v
        out = {}
        for code, weight in v.items():
            c = str(code).strip().upper()
            if not vocab.is_country(c):
                raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code such as KE or IN (the UK is GB)")
            out[c] = weight
        return out

    @field_validator("regions", mode="before")
    @classmethod
    def _check_regions(cls, v: Any) -> Any:
        if not isinstance(v, Mapping):
            return v
        out = {}
        for name, weight in v.items():
            code = vocab.area_code(str(name))
            if code is None:
                raise ValueError(f"{name!r} is not a UN M49 region; allowed: {vocab.area_choices()}")
            out[code] = weight
        return out

    @field_validator("countries", "regions")
    @classmethod
    def _check_weights(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: w for k, w in v.items() if not 0 <= w <= 10}
        if bad:
            raise ValueError(f"weights {bad} must be between 0 and 10 (1: neutral)")
        return v

    def weight_of(self, country: str) -> float:
        """The weight of a candidate in ``country``."""
        if country in self.countries:
            return float(self.countries[country])
        for area in (vocab.subregion(country), vocab.region(country)):
            if area in self.regions:
                return float(self.regions[area])
        return 1.0


class RankerConfig(BaseModel):
    """Everything that shapes a ranking; versioned so learned weights can be stored and reloaded."""

    model_config = ConfigDict(extra="forbid")

    version: str = "default-1"
    weights: Weights = Weights()
    constraints: Constraints = Constraints()
    diversity: Diversity = Diversity()
    school_day_start: float = Field(8.5, ge=0, lt=24, description="local hour the school day starts")
    school_day_hours: float = Field(7.0, gt=0, le=24)
    skill_threshold: float = Field(0.5, ge=0, le=1, description="a level counted as 'wants'/'offers' in reasons")
    search: Literal["auto", "exact", "bounded"] = Field("auto", description="exact scan or bounded pass (same top k)")
    exposure: Exposure = Exposure()
    priorities: Priorities = Priorities()
    wishes_combine: Literal["harmonic", "geometric", "arithmetic", "min"] = Field(
        "harmonic", description="how the two directions' wish fits combine (harmonic: high only if both are)"
    )

    @classmethod
    def load(cls, path: str | Path) -> RankerConfig:
        """Read a configuration from a JSON file."""
        path = Path(path)
        try:
            return cls.model_validate_json(path.read_text("utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such configuration file") from None
        except ValueError as exc:
            raise ConfigError(f"{path}: invalid ranker configuration: {exc}") from None

    def save(self, path: str | Path) -> Path:
        """Write this configuration as JSON."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.model_dump(mode="json"), indent=2), "utf-8")
        return path
