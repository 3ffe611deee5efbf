"""Liveness, readiness and the reference vocabulary."""

from __future__ import annotations

import os

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from features import vocab
from matching.core.config import COMPONENTS
from service.deps import RegistryDep
from service.schemas import Health, Readiness, Vocabulary

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness: the process answers")
async def health() -> Health:  # no I/O: answered on the event loop, which never waits for a write
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "the database does not answer"}},
    summary="Readiness: registry loaded and database answering",
)
def ready(registry: RegistryDep) -> Readiness | JSONResponse:
    body = Readiness(
        status="ready",
        schools=len(registry.index),
        encoder=registry.encoder.name,
        schema_version=registry.schema_version,
        index_version=registry.index.version,
        process=os.getpid(),
    )
    try:
        registry.ping()
    except Exception as exc:  # readiness reports any database failure rather than raising it
        body.status, body.detail = "unavailable", f"database: {type(exc).__name__}"
        return JSONResponse(body.model_dump(), status_code=503)
    return body


@router.get("/vocabulary", response_model=Vocabulary, summary="Allowed themes, phases, skills and score components")
def vocabulary() -> Vocabulary:
    return Vocabulary(
        themes={t: vocab.theme_label(t) for t in vocab.themes()},
        phases=list(vocab.PHASES),
        skills=dict(vocab.SKILL_LABELS),
        isa_levels=list(vocab.ISA_LEVELS),
        components=list(COMPONENTS),
    )
