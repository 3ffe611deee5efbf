"""API keys (admin only): make one (the key is in that response only), list, read, rotate and revoke them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status

from service.auth import (
    ApiPrincipal,
    KeyRecord,
    NewKey,
    Principal,
    authorize,
    create_key,
    get_key,
    key_cache_of,
    list_keys,
    revoke_key,
    rotate_key,
    who_of,
)
from service.deps import RegistryDep
from service.paging import Page
from service.schemas.keys import KeyCreate, KeyCreated, KeyList, KeyPublic, KeyRoleField, KeyRotate

router = APIRouter(prefix="/keys", tags=["keys"])


async def require_admin(principal: ApiPrincipal) -> Principal:
    """Dependency: only an admin key manages keys (401 anonymous, 403 anyone else), checked before the body."""
    authorize(principal, "keys")
    return principal


AdminPrincipal = Annotated[Principal, Depends(require_admin)]
KeyId = Annotated[str, Path(min_length=1, max_length=32, description="the key's id (key_...), never the key")]


def public(record: KeyRecord) -> KeyPublic:
    """The response body of a key: never the key."""
    return KeyPublic(
        id=record.id,
        name=record.name,
        role=record.role,
        school_id=record.school_id,
        prefix=record.prefix,
        state=record.state(),
        created_at=record.created_at,
        created_by=record.created_by,
        revoked_at=record.revoked_at,
        revoked_by=record.revoked_by,
        last_used_at=record.last_used_at,
        expires_at=record.expires_at,
    )


def created(made: NewKey) -> KeyCreated:
    """The response body of a key just made: the only one carrying the key."""
    return KeyCreated(**public(made.record).model_dump(), key=made.key)


@router.post(
    "",
    response_model=KeyCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Make a key (admin): the key is in this response only",
)
def make_api_key(request: Request, registry: RegistryDep, principal: AdminPrincipal, body: KeyCreate) -> KeyCreated:
    made = create_key(
        registry.sessions,
        name=body.name,
        role=body.role,
        school_id=body.school_id,
        expires_at=body.expires_at,
        who=who_of(request, principal),
    )
    return created(made)


@router.get("", response_model=KeyList, summary="List keys (admin): never the keys, only their prefixes")
def list_api_keys(
    registry: RegistryDep,
    principal: AdminPrincipal,
    page: Page,
    include_revoked: Annotated[bool, Query(description="also revoked keys")] = False,
    role: Annotated[KeyRoleField | None, Query(description="only keys of this role")] = None,
    school_id: Annotated[str | None, Query(max_length=64, description="only this school's keys")] = None,
) -> KeyList:
    records, total = list_keys(
        registry.sessions,
        include_revoked=include_revoked,
        role=role,
        school_id=school_id,
        offset=page.offset,
        limit=page.limit,
    )
    return KeyList(items=[public(r) for r in records], total=total, offset=page.offset, limit=page.limit)


@router.get("/{key_id}", response_model=KeyPublic, summary="A key (admin): never the key")
def read_api_key(registry: RegistryDep, principal: AdminPrincipal, key_id: KeyId) -> KeyPublic:
    return public(get_key(registry.sessions, key_id))


@router.delete(
    "/{key_id}",
    response_model=KeyPublic,
    summary="Revoke a key (admin): refused at once here, by every server process within 5 s",
)
def revoke_api_key(request: Request, registry: RegistryDep, principal: AdminPrincipal, key_id: KeyId) -> KeyPublic:
    record = revoke_key(registry.sessions, key_id, who_of(request, principal), key_cache_of(request.app))
    return public(record)


@router.post(
    "/{key_id}/rotate",
    response_model=KeyCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Rotate a key (admin): a new key (in this response only); the old one is revoked or expires soon",
)
def rotate_api_key(
    request: Request, registry: RegistryDep, principal: AdminPrincipal, key_id: KeyId, body: KeyRotate | None = None
) -> KeyCreated:
    body = body or KeyRotate()
    made = rotate_key(
        registry.sessions,
        key_id,
        who_of(request, principal),
        grace_minutes=body.grace_minutes,
        expires_at=body.expires_at,
        cache=key_cache_of(request.app),
    )
    return created(made)
