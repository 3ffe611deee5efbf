"""API keys the admin manages (issue 14): made, listed, rotated and revoked through ``/v1/keys`` or
``partnermatch keys``, stored only as the SHA-256 of the key.

A key is ``pmk_`` followed by 43 URL-safe characters (32 random bytes); it is shown once, in the answer that
makes it. Lists show its first ``PREFIX_CHARS`` characters (``prefix``), a name and who made it. Roles:
``staff``, ``site``, ``reader`` and ``school`` (a school key acts for the one school it names); admin keys
come only from the settings (``admin_keys``), so no key made here can make keys.

Resolution (``db_key_principal``) looks the key's hash up in the database (one lookup on a unique index: the
stored hash of an unknown key is never compared byte by byte, so timing tells nothing about stored keys).
Each process keeps what it looked up for at most ``CACHE_SECONDS`` (and ``CACHE_SIZE`` keys, least recently
used dropped first): a key revoked on one server process is refused there at once and by every other process
within ``CACHE_SECONDS``, without a restart. Expiry is checked on every use, cached or not.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from service import db, store
from service.auth.principal import Principal
from service.auth.tokens import TOKEN_BYTES, digest
from service.errors import AuthError, ConflictError, NotFoundError, RequestError
from service.store import Sessions
from service.store import keys as key_store
from service.store.audit import Who

KeyRole = Literal["staff", "site", "reader", "school"]
KEY_ROLES: tuple[str, ...] = get_args(KeyRole)
KeyState = Literal["live", "revoked", "expired"]
KEY_PREFIX = "pmk_"
PREFIX_CHARS = 12  # "pmk_" and 8 characters of the key: enough to tell keys apart, far too few to guess the rest
NAME_MAX = 120
CACHE_SECONDS = 5.0  # a revocation reaches every other server process within this time
CACHE_SIZE = 1024
TOUCH_EVERY = timedelta(seconds=60)  # last_used_at is written at most this often per key and process
MAX_GRACE_MINUTES = 24 * 60


@dataclass(frozen=True)
class KeyRecord:
    """What may be shown of a key: everything but the key (and its hash)."""

    id: str
    name: str
    role: str
    school_id: str | None
    prefix: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None
    last_used_at: datetime | None
    expires_at: datetime | None

    @classmethod
    def of(cls, row: db.ApiKey) -> KeyRecord:
        """The record of a stored row."""
        return cls(
            id=row.id,
            name=row.name,
            role=row.role,
            school_id=row.school_id,
            prefix=row.prefix,
            created_at=row.created_at,
            created_by=row.created_by,
            revoked_at=row.revoked_at,
            revoked_by=row.revoked_by,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
        )

    def state(self, now: datetime | None = None) -> KeyState:
        """``live``, ``revoked`` or ``expired`` (at ``now``, default: the present)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or db.utcnow()):
            return "expired"
        return "live"

    @property
    def subject(self) -> str:
        """How the audit log names this key's user: its id and name, never the key."""
        return f"{self.role} key {self.id} ({self.name})"


@dataclass(frozen=True)
class NewKey:
    """A key just made: its record and the key itself (shown once, then only its hash is kept)."""

    record: KeyRecord
    key: str


def is_managed_key(key: str) -> bool:
    """Whether ``key`` has the form of a key made here (only such keys are looked up in the database)."""
    return key.startswith(KEY_PREFIX) and 20 <= len(key) <= 100


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > NAME_MAX or not cleaned.isprintable():
        raise RequestError("name", f"must be 1 to {NAME_MAX} printable characters (who or what uses the key)", name)
    return cleaned


def _check_expiry(field: str, expires_at: datetime | None, now: datetime) -> datetime | None:
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise RequestError(field, "must say its time zone (e.g. 2030-01-31T12:00:00Z)", expires_at.isoformat())
    if expires_at <= now:
        now_text = now.isoformat(timespec="seconds")
        raise RequestError(field, f"must be in the future (now is {now_text})", expires_at.isoformat())
    return expires_at


def _check_role(role: str, school_id: str | None) -> None:
    if role not in KEY_ROLES:
        raise RequestError("role", f"must be one of {', '.join(KEY_ROLES)} (admin keys come from the settings)", role)
    if role == "school" and not school_id:
        raise RequestError("school_id", "a school key must name its school", school_id)
    if role != "school" and school_id is not None:
        message = "only a school key names a school (a site key names the school per request in X-Acting-For)"
        raise RequestError("school_id", message, school_id)


def _insert(s: Any, name: str, role: str, school_id: str | None, expires_at: datetime | None, by: str) -> NewKey:
    key = KEY_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    row = key_store.add(
        s,
        key_id="key_" + secrets.token_hex(8),
        name=name,
        role=role,
        school_id=school_id,
        key_hash=digest(key),
        prefix=key[:PREFIX_CHARS],
        created_by=by,
        expires_at=expires_at,
        now=db.utcnow(),
    )
    s.flush()
    return NewKey(KeyRecord.of(row), key)


def create_key(
    sessions: Sessions,
    *,
    name: str,
    role: str,
    who: Who,
    school_id: str | None = None,
    expires_at: datetime | None = None,
) -> NewKey:
    """Make a key (recorded in the audit log as ``key.create``). 422 naming the field for a bad name, role,
    school or expiry; 404 if a school key names an unknown school."""
    name = _clean_name(name)
    _check_role(role, school_id)
    expires_at = _check_expiry("expires_at", expires_at, db.utcnow())
    with sessions.begin(feed=False) as s:
        if school_id is not None and store.schools.row(s, school_id) is None:
            raise NotFoundError(f"school {school_id!r} is not registered: a school key must name a registered school")
        made = _insert(s, name, role, school_id, expires_at, who.subject)
        store.audit.add(s, who, "key.create", [made.record.id, *([school_id] if school_id else [])])
    return made


def list_keys(
    sessions: Sessions,
    *,
    include_revoked: bool = False,
    role: str | None = None,
    school_id: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[KeyRecord], int]:
    """A page of keys, newest first (revoked ones only with ``include_revoked``), and how many match."""
    if role is not None and role not in KEY_ROLES:
        raise RequestError("role", f"must be one of {', '.join(KEY_ROLES)}", role)
    with sessions.read() as s:
        rows, total = key_store.page(
            s, include_revoked=include_revoked, role=role, school_id=school_id, offset=offset, limit=limit
        )
        return [KeyRecord.of(r) for r in rows], total


def get_key(sessions: Sessions, key_id: str) -> KeyRecord:
    """The key with this id (404 if there is none)."""
    with sessions.read() as s:
        row = key_store.get(s, key_id)
        if row is None:
            raise NotFoundError(f"key {key_id!r} does not exist")
        return KeyRecord.of(row)


def revoke_key(sessions: Sessions, key_id: str, who: Who, cache: KeyCache | None = None) -> KeyRecord:
    """Revoke a key at once (audited as ``key.revoke``); revoking a revoked key changes nothing and says when it
    was revoked. 404 for an unknown id. ``cache``: this process's cache, which forgets the key now."""
    with sessions.begin(feed=False) as s:
        row = key_store.get(s, key_id)
        if row is None:
            raise NotFoundError(f"key {key_id!r} does not exist")
        if key_store.revoke(s, key_id, who.subject, db.utcnow()):
            store.audit.add(s, who, "key.revoke", [key_id, *([row.school_id] if row.school_id else [])])
        s.expire(row)
        record = KeyRecord.of(row)
    if cache is not None:
        cache.forget(key_id)
    return record


def rotate_key(
    sessions: Sessions,
    key_id: str,
    who: Who,
    *,
    grace_minutes: int = 0,
    expires_at: datetime | None = None,
    cache: KeyCache | None = None,
) -> NewKey:
    """A new key with the old one's name, role and school (audited as ``key.rotate``, targets: old, new). The old
    key is revoked now (``grace_minutes=0``) or expires ``grace_minutes`` from now, so clients can switch over.
    409 if the old key is revoked or expired already; 404 for an unknown id."""
    if not 0 <= grace_minutes <= MAX_GRACE_MINUTES:
        raise RequestError("grace_minutes", f"must be 0 to {MAX_GRACE_MINUTES}", grace_minutes)
    now = db.utcnow()
    expires_at = _check_expiry("expires_at", expires_at, now)
    with sessions.begin(feed=False) as s:
        row = key_store.get(s, key_id)
        if row is None:
            raise NotFoundError(f"key {key_id!r} does not exist")
        old = KeyRecord.of(row)
        if old.state(now) != "live":
            raise ConflictError(f"key {key_id!r} is {old.state(now)}: make a new key instead of rotating it")
        made = _insert(s, old.name, old.role, old.school_id, expires_at, who.subject)
        if grace_minutes == 0:
            key_store.revoke(s, key_id, who.subject, now)
        else:
            key_store.expire(s, key_id, now + timedelta(minutes=grace_minutes))
        store.audit.add(s, who, "key.rotate", [key_id, made.record.id, *([old.school_id] if old.school_id else [])])
    if cache is not None:
        cache.forget(key_id)
    return made


class KeyCache:
    """Per process: a key's hash -> its record, each kept at most ``ttl`` seconds, at most ``size`` of them
    (least recently used dropped first). Thread-safe (the event loop and the threadpool both use it)."""

    def __init__(self, ttl: float = CACHE_SECONDS, size: int = CACHE_SIZE) -> None:
        self.ttl = ttl
        self.size = size
        self._items: OrderedDict[str, tuple[float, KeyRecord]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> KeyRecord | None:
        """The cached record, or None (not cached, or older than ``ttl``)."""
        with self._lock:
            item = self._items.get(key_hash)
            if item is None:
                return None
            if time.monotonic() - item[0] >= self.ttl:
                del self._items[key_hash]
                return None
            self._items.move_to_end(key_hash)
            return item[1]

    def put(self, key_hash: str, record: KeyRecord, fetched: float | None = None) -> None:
        """Remember ``record`` as read from the database at ``fetched`` (``time.monotonic()``; default: now)."""
        with self._lock:
            self._items[key_hash] = (time.monotonic() if fetched is None else fetched, record)
            self._items.move_to_end(key_hash)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def fetched_at(self, key_hash: str) -> float | None:
        """When the cached record was read from the database (None: not cached)."""
        with self._lock:
            item = self._items.get(key_hash)
            return None if item is None else item[0]

    def forget(self, key_id: str) -> None:
        """Drop the key with this id (revoked or rotated here)."""
        with self._lock:
            for key_hash in [h for h, (_, r) in self._items.items() if r.id == key_id]:
                del self._items[key_hash]

    def __len__(self) -> int:
        return len(self._items)


def db_key_principal(sessions: Sessions, cache: KeyCache, key: str) -> Principal:
    """The principal of a key made here (``acting_for`` is added by the caller for a site key). 403 for a key
    this service does not know; 401 for a revoked or an expired one (the caller held a real key: it must get a
    new one). Records ``last_used_at`` at most every ``TOUCH_EVERY``."""
    key_hash = digest(key)
    record = cache.get(key_hash)
    fetched = cache.fetched_at(key_hash)
    if record is None:
        fetched = time.monotonic()
        with sessions.read() as s:
            row = key_store.by_hash(s, key_hash)
            record = KeyRecord.of(row) if row is not None else None
        if record is None:
            raise AuthError(403, "the API key in X-API-Key is not one this service knows")
        cache.put(key_hash, record, fetched)
    now = db.utcnow()
    state = record.state(now)
    if state == "revoked":
        when = record.revoked_at.isoformat(timespec="seconds") if record.revoked_at else "?"
        raise AuthError(401, f"the API key {record.prefix}... was revoked at {when}: ask the admin for a new key")
    if state == "expired":
        when = record.expires_at.isoformat(timespec="seconds") if record.expires_at else "?"
        raise AuthError(401, f"the API key {record.prefix}... expired at {when}: ask the admin for a new key")
    if record.last_used_at is None or now - record.last_used_at >= TOUCH_EVERY:
        with sessions.begin(feed=False) as s:
            key_store.touch(s, record.id, now)
        cache.put(key_hash, replace(record, last_used_at=now), fetched)  # keeps the original fetch time
    return Principal(record.role, record.school_id, record.subject, "api_key")  # type: ignore[arg-type]
