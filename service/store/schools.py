"""SQL for the ``schools`` table."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Text, cast, func, or_, select, type_coerce
from sqlalchemy.orm import Session
from tqdm.auto import tqdm

from features import vocab
from features.profiles import SchoolProfile, validate_profile
from service import db
from service.errors import PreconditionFailedError, RequestError

CHUNK = 500  # ids per SQL IN (...)


def chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    """``items`` in slices of at most ``CHUNK`` (one SQL ``IN`` each)."""
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def count(s: Session) -> int:
    """Schools in the database."""
    return int(s.scalar(select(func.count()).select_from(db.School)) or 0)


def parse_profile(stored: str | dict[str, Any]) -> SchoolProfile:
    """A stored profile: JSON text (SQLite) or already decoded by the driver (psycopg decodes JSON columns)."""
    if isinstance(stored, str):
        return SchoolProfile.model_validate_json(stored)
    return SchoolProfile.model_validate(stored)


def load_profiles(conn: Connection) -> list[SchoolProfile]:
    """Every stored profile, in registration order (the JSON text parsed and validated in one pass)."""
    raw = type_coerce(db.School.profile, Text)
    rows = conn.execute(select(raw).order_by(db.School.seq)).scalars()
    return [parse_profile(stored) for stored in tqdm(rows, desc="loading", unit="school", disable=None)]


def row(s: Session, school_id: str, lock: bool = False) -> db.School | None:
    """One school's row, or None; ``lock``: ``SELECT ... FOR UPDATE`` (PostgreSQL; SQLite's write
    transactions already hold the database's write lock)."""
    stmt = select(db.School).where(db.School.school_id == school_id)
    return s.scalar(stmt.with_for_update() if lock else stmt)


def rows(s: Session, school_ids: Sequence[str], lock: bool = False) -> dict[str, db.School]:
    """The rows of the schools that exist among ``school_ids``, by id; ``lock`` as in ``row`` (taken in
    id order, so two writers locking overlapping sets cannot deadlock)."""
    out: dict[str, db.School] = {}
    for chunk in chunks(sorted(set(school_ids))):
        stmt = select(db.School).where(db.School.school_id.in_(chunk))
        if lock:
            stmt = stmt.order_by(db.School.school_id).with_for_update()
        out.update({r.school_id: r for r in s.scalars(stmt)})
    return out


def write(r: db.School, profile: SchoolProfile) -> None:
    """Store a new profile on an existing row: its version goes up by one."""
    r.set_profile(profile)
    r.version = (r.version or 0) + 1


def listing(s: Session, school_id: str) -> dict[str, db.School]:
    """Rows (locked, as in ``rows``) whose profile names ``school_id`` in ``current_partners``."""
    text = cast(db.School.profile, Text)
    stmt = select(db.School.school_id).where(text.contains(json.dumps(school_id), autoescape=True))
    candidates = [sid for sid in s.scalars(stmt) if sid != school_id]
    found = rows(s, candidates, lock=True)
    return {sid: r for sid, r in found.items() if school_id in r.to_profile().current_partners}


def profiles(s: Session, school_ids: Sequence[str]) -> dict[str, SchoolProfile]:
    """The stored profiles of the schools that exist among ``school_ids``, by id."""
    return {sid: r.to_profile() for sid, r in rows(s, school_ids).items()}


def add(s: Session, profile: SchoolProfile) -> db.School:
    """A new row for a profile."""
    r = db.School()
    r.set_profile(profile)
    r.version = 1
    s.add(r)
    return r


def page(
    s: Session,
    *,
    country: str | None = None,
    phase: str | None = None,
    theme: str | None = None,
    accepting: bool | None = None,
    q: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[SchoolProfile], int]:
    """A page of schools matching the filters, in registration order, and the total matching."""
    stmt = select(db.School)
    if country:
        code = country.strip().upper()
        if not vocab.is_country(code):
            raise RequestError("country", "not an ISO 3166-1 alpha-2 country code (the UK is GB)", country)
        stmt = stmt.where(db.School.country == code)
    if phase:
        stmt = stmt.where(db.School.phase == phase)
    if theme:
        tag = theme.strip().lower()
        if tag not in vocab.themes():
            raise RequestError("theme", f"unknown theme; valid tags: {', '.join(vocab.themes())}", theme)
        stmt = stmt.where(db.School.themes.contains(f";{tag};", autoescape=True))
    if accepting is not None:
        stmt = stmt.where(db.School.accepting == accepting)
    if q:
        stmt = stmt.where(
            or_(db.School.name.icontains(q, autoescape=True), db.School.school_id.istartswith(q, autoescape=True))
        )
    total = int(s.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    found = s.scalars(stmt.order_by(db.School.seq).offset(offset).limit(limit)).all()
    return [r.to_profile() for r in found], total


def with_partners(profile: SchoolProfile, partners: set[str]) -> SchoolProfile:
    """``profile`` listing every one of ``partners`` in ``current_partners`` (recorded partnerships are kept)."""
    missing = [x for x in sorted(partners) if x not in profile.current_partners]
    if not missing:
        return profile
    return validate_profile({**profile.model_dump(), "current_partners": [*profile.current_partners, *missing]})


def without_partner(profile: SchoolProfile, partner: str) -> SchoolProfile:
    """``profile`` with ``partner`` dropped from ``current_partners``."""
    return validate_profile(
        {**profile.model_dump(), "current_partners": [x for x in profile.current_partners if x != partner]}
    )


@dataclass(frozen=True)
class Versioned:
    """A profile and the version of its row (``ETag``: the version in quotes)."""

    profile: SchoolProfile
    version: int

    @property
    def etag(self) -> str:
        """The strong entity tag of this version."""
        return etag(self.version)


def etag(version: int) -> str:
    """The strong ``ETag`` of a row version."""
    return f'"{version}"'


def check_if_match(if_match: str | None, school_id: str, version: int) -> None:
    """Raise ``PreconditionFailedError`` (412) unless ``if_match`` (an ``If-Match`` header; None: absent)
    is ``*`` or lists the row's current strong entity tag. Weak tags never match (RFC 9110 13.1.1)."""
    if if_match is None:
        return
    tags = [t.strip() for t in if_match.split(",")]
    if "*" in tags or etag(version) in tags:
        return
    raise PreconditionFailedError(
        f"school {school_id!r} has changed since the version you sent in If-Match (it is now {etag(version)}); "
        "nothing was changed: read it again (GET sends its ETag) and retry",
        school_id,
        etag(version),
    )


def merged(current: SchoolProfile, changes: dict[str, Any]) -> SchoolProfile:
    """``current`` with the fields in ``changes`` replaced, validated (a timezone that was the country's
    default follows a changed country)."""
    data = {**current.model_dump(), **changes, "school_id": current.school_id}
    if (
        "country" in changes
        and "timezone" not in changes
        and current.timezone == vocab.country_timezone(current.country)
    ):
        data.pop("timezone")
    return validate_profile(data)
