"""Bodies of the batch job routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from features import vocab
from features.profiles import Phase
from service.schemas.common import PageOf, Strict


class BatchOptions(Strict):
    """How a cohort is matched (``matching.batch.assignment.AssignmentOptions``)."""

    mode: Literal["optimal", "stable", "greedy"] = "optimal"
    top_k: int = Field(50, ge=1, le=1000, description="candidates kept per UK school")
    capacity: int | None = Field(None, ge=0, le=100, description="override every school's capacity this round")
    min_score: float | None = Field(None, ge=-10, le=10, description="drop pairs scoring below it")
    one_per_country: bool = False
    min_partners: int = Field(0, ge=0, le=100)
    forced_pairs: list[list[str]] = Field(default_factory=list, max_length=10_000, description="[uk_id, partner_id]")
    forbidden_pairs: list[list[str]] = Field(default_factory=list, max_length=100_000)
    countries: list[str] = Field(default_factory=list, max_length=300)
    phases: list[Phase] = Field(default_factory=list, max_length=len(vocab.PHASES))
    max_timezone_difference: float | None = Field(None, ge=0, le=12)
    explain: bool = True


class BatchCreate(Strict):
    """A batch assignment: the cohort (school ids; leave out for the whole registry) and options."""

    cohort: list[str] | None = Field(None, max_length=500_000)
    options: BatchOptions = Field(default_factory=BatchOptions)


class BatchJobPublic(BaseModel):
    """A batch job and its progress."""

    id: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: float = Field(ge=0, le=1)
    message: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    summary: list[str] | None = None


class BatchJobList(PageOf):
    """One page of batch jobs, newest first."""

    items: list[BatchJobPublic]


class BatchResult(BaseModel):
    """A finished batch: partnerships and unmatched schools as flat records, diagnostics, summary."""

    partnerships: list[dict[str, Any]]
    unmatched: list[dict[str, Any]]
    diagnostics: dict[str, Any]
    summary: list[str]
