"""Bodies of the health, readiness and vocabulary routes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Health(BaseModel):
    """Liveness."""

    status: Literal["ok"]


class Readiness(BaseModel):
    """Readiness: the registry is loaded and the database answers."""

    status: Literal["ready", "unavailable"]
    schools: int
    encoder: str
    schema_version: int
    index_version: int
    process: int = Field(description="id of the server process that answered (one per worker)")
    detail: str | None = None


class Vocabulary(BaseModel):
    """The allowed values of the profile fields with a fixed vocabulary."""

    themes: dict[str, str]
    phases: list[str]
    skills: dict[str, str]
    isa_levels: list[str]
    components: list[str]
