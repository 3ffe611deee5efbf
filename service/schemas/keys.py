"""Bodies of the key routes (admin only). No response but the one that makes a key ever carries a key."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from service.schemas.common import PageOf, Strict

KeyRoleField = Literal["staff", "site", "reader", "school"]


class KeyCreate(Strict):
    """A key to make: who or what uses it, its role, a school key's school, and when it stops working."""

    name: str = Field(min_length=1, max_length=120, description="who or what uses the key, e.g. 'Programme office'")
    role: KeyRoleField = Field(
        description="staff: any school, cohorts, batch jobs, the audit log; site: the Schools Online server, acting "
        "for the school named in X-Acting-For; reader: reads only; school: acts for school_id only"
    )
    school_id: str | None = Field(None, min_length=1, max_length=64, description="a school key's school (only then)")
    expires_at: AwareDatetime | None = Field(None, description="when the key stops working (none: until revoked)")


class KeyRotate(Strict):
    """How to rotate a key: how long the old key keeps working, and when the new one expires."""

    grace_minutes: int = Field(0, ge=0, le=24 * 60, description="the old key works this long still (0: revoked now)")
    expires_at: AwareDatetime | None = Field(None, description="when the new key stops working (none: until revoked)")


class KeyPublic(BaseModel):
    """A key as lists show it: never the key, only its first characters (``prefix``)."""

    id: str
    name: str
    role: str
    school_id: str | None = None
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    state: Literal["live", "revoked", "expired"]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    last_used_at: datetime | None = Field(None, description="last use (recorded at most once a minute)")
    expires_at: datetime | None = None


class KeyCreated(KeyPublic):
    """A key just made: the only response that carries the key. Store it now: it cannot be shown again."""

    key: str = Field(description="the key, for the X-API-Key header; shown only in this response")


class KeyList(PageOf):
    """One page of keys, newest first."""

    items: list[KeyPublic]
