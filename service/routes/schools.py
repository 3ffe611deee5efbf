"""Schools: create, read, replace, change, delete, list with filters, bulk import."""

from __future__ import annotations

import io
import json
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Body, Header, Path, Query, Request, Response, status

from features.errors import ProfileFormatError
from features.profile_files import profiles_from_frame
from features.profiles import Phase, SchoolProfile, profiles_from_records, validate_profile
from service.auth import ApiPrincipal, authorize, who_of
from service.deps import ReadAccess, RegistryDep
from service.errors import RequestError, UnsupportedMediaTypeError
from service.paging import Page
from service.pauses import no_collections
from service.registry import Registry
from service.schemas import (
    ErrorBody,
    ImportResult,
    SchoolCreate,
    SchoolList,
    SchoolPrivate,
    SchoolPublic,
    SchoolUpdate,
    SchoolWrite,
)
from service.store.audit import Who
from service.store.schools import Versioned

router = APIRouter(prefix="/schools", tags=["schools"])

SchoolId = Annotated[str, Path(min_length=1, max_length=64, description="the school's id")]


IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=1000,
        description='apply only if the school is still at this version: its ETag from a read (e.g. "3"), or *',
    ),
]
ETAG_DOC = {"description": 'the version of the profile, a strong entity tag (e.g. "3")', "schema": {"type": "string"}}
PRECONDITION_DOC = {
    "model": ErrorBody,
    "description": "If-Match does not match the stored version: nothing was changed "
    "(the ETag header has the current one)",
}


def versioned(found: Versioned, response: Response) -> SchoolPublic:
    """The public body of a versioned profile; its version goes in the ``ETag`` header."""
    response.headers["ETag"] = found.etag
    return SchoolPublic.from_profile(found.profile)


def profile_of(body: SchoolWrite, school_id: str) -> SchoolProfile:
    """A request body as a validated profile (422 naming each bad field)."""
    return validate_profile({**body.model_dump(), "school_id": school_id})


@router.get("", response_model=SchoolList, dependencies=[ReadAccess], summary="List schools (filters, pages)")
def list_schools(
    registry: RegistryDep,
    page: Page,
    country: Annotated[str | None, Query(max_length=60, description="ISO 3166-1 alpha-2 code")] = None,
    phase: Phase | None = None,
    theme: Annotated[str | None, Query(max_length=64, description="a theme tag (GET /vocabulary)")] = None,
    accepting: Annotated[bool | None, Query(description="only schools taking partners now (or not)")] = None,
    q: Annotated[str | None, Query(max_length=200, description="name contains, or id starts with")] = None,
) -> SchoolList:
    profiles, total = registry.list_schools(
        country=country, phase=phase, theme=theme, accepting=accepting, q=q, offset=page.offset, limit=page.limit
    )
    items = [SchoolPublic.from_profile(p) for p in profiles]
    return SchoolList(items=items, total=total, offset=page.offset, limit=page.limit)


@router.post(
    "",
    response_model=SchoolPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Register a school (staff, or the site acting for that school id)",
)
def create_school(
    request: Request, registry: RegistryDep, principal: ApiPrincipal, body: SchoolCreate, response: Response
) -> SchoolPublic:
    authorize(principal, "school.create", body.school_id)
    return versioned(registry.create(profile_of(body, body.school_id), who=who_of(request, principal)), response)


_IMPORT_BODY = {
    "required": True,
    "description": 'a CSV file (the profile CSV format), a JSON list of school objects (or {"schools": [...]}), '
    "or JSON lines",
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/SchoolCreate"}}},
    },
}


def json_value(text: str) -> object:
    """``json.loads(text)``, except that a top-level list is decoded one element at a time: one C call
    over a 40 MB body holds the GIL for a second or more, and the event loop would wait that long."""
    start = len(text) - len(text.lstrip())
    if not text.startswith("[", start):
        return json.loads(text)
    decoder = json.JSONDecoder()
    items: list[object] = []
    pos = start + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if text.startswith("]", pos) and not items:
            pos += 1
            break
        item, pos = decoder.raw_decode(text, pos)
        items.append(item)
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if text.startswith(",", pos):
            pos += 1
        elif text.startswith("]", pos):
            pos += 1
            break
        else:
            raise json.JSONDecodeError("expected ',' or ']'", text, pos)
    if text[pos:].strip():
        raise json.JSONDecodeError("extra data", text, pos)
    return items


def parse_upload(body: bytes, content_type: str) -> list[SchoolProfile]:
    """Profiles from an uploaded CSV, JSON or JSON-lines body (all or nothing)."""
    kind = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ProfileFormatError("upload: not UTF-8 text") from None
    if kind in ("text/csv", "application/csv", "text/plain"):
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        except Exception as exc:  # any parser failure is the file's fault, reported as such
            raise ProfileFormatError(f"upload: not a readable CSV file ({type(exc).__name__})") from None
        return profiles_from_frame(frame, source="upload")
    if kind in ("application/json", "application/x-ndjson", "application/jsonl"):
        try:
            if kind == "application/json":
                data = json_value(text)
                if isinstance(data, dict) and "schools" in data:
                    data = data["schools"]
            else:
                data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ProfileFormatError(f"upload: not valid JSON ({exc})") from None
        if not isinstance(data, list):
            raise ProfileFormatError("upload: expected a JSON list of school objects")
        return profiles_from_records(data, source="upload")
    raise UnsupportedMediaTypeError(("text/csv", "application/json", "application/x-ndjson"), kind or None)


@router.post(
    "/import",
    response_model=ImportResult,
    summary="Bulk import (CSV or JSON): all or nothing, errors per row (staff)",
    openapi_extra={"requestBody": _IMPORT_BODY},
    responses={415: {"model": ErrorBody, "description": "the Content-Type is not CSV, JSON or JSON lines"}},
)
async def import_schools(
    request: Request,
    registry: RegistryDep,
    principal: ApiPrincipal,
    on_conflict: Annotated[
        Literal["error", "update"], Query(description="error: 409 if an id exists; update: replace it")
    ] = "error",
) -> ImportResult:
    from starlette.concurrency import run_in_threadpool

    authorize(principal, "school.import")
    body = await request.body()
    created, updated = await run_in_threadpool(
        parse_and_import,
        registry,
        body,
        request.headers.get("content-type", ""),
        on_conflict,
        who_of(request, principal),
    )
    return ImportResult(created=created, updated=updated)


def parse_and_import(
    registry: Registry, body: bytes, content_type: str, on_conflict: str, who: Who | None = None
) -> tuple[list[str], list[str]]:
    """Parse an upload and import it (off the event loop, with no garbage-collection pauses meanwhile)."""
    with no_collections():
        profiles = parse_upload(body, content_type)
        if not profiles:
            raise RequestError("body", "no school in the upload")
        return registry.import_profiles(profiles, on_conflict, who=who)


@router.get(
    "/{school_id}",
    response_model=SchoolPublic,
    dependencies=[ReadAccess],
    summary="A school's profile (its version in the ETag header)",
    responses={200: {"headers": {"ETag": ETAG_DOC}}},
)
def read_school(registry: RegistryDep, school_id: SchoolId, response: Response) -> SchoolPublic:
    return versioned(registry.school(school_id), response)


@router.get(
    "/{school_id}/private",
    response_model=SchoolPrivate,
    summary="The owner's read: the profile with its private contact (the school itself, the site for it, staff)",
)
def read_school_private(
    registry: RegistryDep, principal: ApiPrincipal, school_id: SchoolId, response: Response
) -> SchoolPrivate:
    authorize(principal, "school.private", school_id)
    found = registry.school(school_id)
    response.headers["ETag"] = found.etag
    return SchoolPrivate.from_profile(found.profile)


@router.put(
    "/{school_id}",
    response_model=SchoolPublic,
    summary="Replace a profile (If-Match: only if unchanged since that version; the school itself or staff)",
    responses={200: {"headers": {"ETag": ETAG_DOC}}, 412: PRECONDITION_DOC},
)
def replace_school(
    request: Request,
    registry: RegistryDep,
    principal: ApiPrincipal,
    school_id: SchoolId,
    body: SchoolWrite,
    response: Response,
    if_match: IfMatch = None,
) -> SchoolPublic:
    authorize(principal, "school.write", school_id)
    found = registry.replace(profile_of(body, school_id), if_match, who=who_of(request, principal))
    return versioned(found, response)


@router.patch(
    "/{school_id}",
    response_model=SchoolPublic,
    summary="Change some fields (merged onto the stored profile in one transaction; If-Match optional; "
    "the school itself or staff)",
    responses={200: {"headers": {"ETag": ETAG_DOC}}, 412: PRECONDITION_DOC},
)
def patch_school(
    request: Request,
    registry: RegistryDep,
    principal: ApiPrincipal,
    school_id: SchoolId,
    body: Annotated[SchoolUpdate, Body()],
    response: Response,
    if_match: IfMatch = None,
) -> SchoolPublic:
    authorize(principal, "school.write", school_id)
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise RequestError("body", "no field to change")
    return versioned(registry.patch(school_id, changes, if_match, who=who_of(request, principal)), response)


@router.delete(
    "/{school_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Remove a school (its recorded partnerships end; staff, or the site acting for it)",
)
def delete_school(request: Request, registry: RegistryDep, principal: ApiPrincipal, school_id: SchoolId) -> Response:
    authorize(principal, "school.delete", school_id)
    registry.delete(school_id, who=who_of(request, principal))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
