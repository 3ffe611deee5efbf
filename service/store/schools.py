"""SQL for the ``schools`` table."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import Connection, Text, func, or_, select, type_coerce
from sqlalchemy.orm import Session
from tqdm.auto import tqdm

from features import vocab
from features.profiles import SchoolProfile, validate_profile
from service import db
from service.errors import RequestError

CHUNK = 500  # ids per SQL IN (...)


def chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    """``items`` in slices of at most ``CHUNK`` (one SQL ``IN`` each)."""
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def count(s: Session) -> int:
    """Schools in the database."""
    return int(s.scalar(select(func.count()).select_from(db.School)) or 0)


def load_profiles(conn: Connection) -> list[SchoolProfile]:
    """Every stored profile, in registration order (the JSON text parsed and validated in one pass)."""
    raw = type_coerce(db.School.profile, Text)
    rows = conn.execute(select(raw).order_by(db.School.seq)).scalars()
    return [SchoolProfile.model_validate_json(text) for text in tqdm(rows, desc="loading", unit="school", disable=None)]


def row(s: Session, school_id: str) -> db.School | None:
    """One school's row, or None."""
    return s.scalar(select(db.School).where(db.School.school_id == school_id))


def rows(s: Session, school_ids: Sequence[str]) -> dict[str, db.School]:
    """The rows of the schools that exist among ``school_ids``, by id."""
    out: dict[str, db.School] = {}
    for chunk in chunks(list(school_ids)):
        out.update({r.school_id: r for r in s.scalars(select(db.School).where(db.School.school_id.in_(chunk)))})
    return out


def profiles(s: Session, school_ids: Sequence[str]) -> dict[str, SchoolProfile]:
    """The stored profiles of the schools that exist among ``school_ids``, by id."""
    return {sid: r.to_profile() for sid, r in rows(s, school_ids).items()}


def add(s: Session, profile: SchoolProfile) -> db.School:
    """A new row for a profile."""
    r = db.School()
    r.set_profile(profile)
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
