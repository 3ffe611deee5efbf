"""Ranker configuration: component weights, constraint switches, diversity. Loadable from JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

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
)


class Weights(BaseModel):
    """Weight of each score component (each component lies in [0, 1], cosines in [-1, 1])."""

    model_config = ConfigDict(extra="forbid")

    country: float = Field(0.10, ge=0)
    phase: float = Field(0.10, ge=0)
    themes: float = Field(0.45, ge=0)
    skills: float = Field(0.05, ge=0)
    complementarity: float = Field(0.15, ge=0)
    timezone_overlap: float = Field(0.10, ge=0)
    readiness: float = Field(0.05, ge=0)

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
