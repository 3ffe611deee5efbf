"""The registry database as the pre-Alembic code made it: commit 4b8570b's service/db.py, verbatim below this
docstring. tests/service/test_db_migrations.py builds databases with it and checks that the new code upgrades
them keeping every row. Never change it: it records what existing databases look like.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    Text,
    TypeDecorator,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool

from features.profiles import SchoolProfile

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    """Declarative base of the registry tables."""


class School(Base):
    """A registered school. ``seq`` keeps registration order, so a restart rebuilds rows in the same order."""

    __tablename__ = "schools"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    school_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    country: Mapped[str] = mapped_column(String(2), index=True)
    phase: Mapped[str] = mapped_column(String(20), index=True)
    city: Mapped[str | None] = mapped_column(String(100))
    themes: Mapped[str] = mapped_column(Text, default="")  # ";tag;tag;" so a filter is one LIKE
    accepting: Mapped[bool] = mapped_column(Boolean, index=True)  # active and free capacity > 0
    profile: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def set_profile(self, profile: SchoolProfile) -> None:
        """Store a validated profile and refresh the filter columns."""
        self.school_id = profile.school_id
        self.name = profile.name
        self.country = profile.country
        self.phase = profile.phase
        self.city = profile.city
        self.themes = ";" + ";".join(profile.themes) + ";" if profile.themes else ""
        self.accepting = bool(profile.active and profile.free_capacity > 0)
        self.profile = profile.model_dump(mode="json")

    def to_profile(self) -> SchoolProfile:
        """The stored profile, validated again."""
        return SchoolProfile.model_validate(self.profile)


class Partnership(Base):
    """An agreed partnership; ending it keeps the row (``ended_at``) as history."""

    __tablename__ = "partnerships"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    school_a: Mapped[str] = mapped_column(String(64), index=True)
    school_b: Mapped[str] = mapped_column(String(64), index=True)
    note: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class Feedback(Base):
    """A school's decision on a suggested candidate, kept for learning."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    school_id: Mapped[str] = mapped_column(String(64), index=True)
    candidate_id: Mapped[str] = mapped_column(String(64), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(String(1000))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class BatchJob(Base):
    """A background batch assignment: request, progress, and result."""

    __tablename__ = "batch_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # queued running done failed cancelled
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(String(500), default="")
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Change(Base):
    """One row per school written: other processes serving the same database replay these (``Registry.sync``)."""

    __tablename__ = "changes"
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_autoincrement": True}  # seq never reused, even pruned

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    school_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Meta(Base):
    """Key/value facts about the database: schema version, the vectorizer's language vocabulary."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL mode, a busy timeout and foreign keys."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

    return engine


def _log_school_changes(session: Session, flush_context: Any, instances: Any) -> None:
    """Every school added, changed or deleted in a flush gets a ``Change`` row in the same transaction."""
    ids = {
        obj.school_id
        for obj in (*session.new, *session.dirty, *session.deleted)
        if isinstance(obj, School) and obj.school_id
    }
    now = utcnow()
    changes = [Change(school_id=sid, at=now) for sid in sorted(ids)]
    session.add_all(changes)
    session.info.setdefault("changes", []).extend(changes)


def make_sessionmaker(engine: Engine) -> sessionmaker:
    """Sessions that keep loaded attributes after commit and log school changes."""
    factory = sessionmaker(engine, expire_on_commit=False)
    event.listen(factory, "before_flush", _log_school_changes)
    return factory


def _v1_to_v2(conn: Connection) -> None:
    """Version 2: batch jobs can be cancelled from another process (``cancel_requested``); the change log
    table (``changes``) is created by ``create_all``."""
    columns = {c["name"] for c in inspect(conn).get_columns("batch_jobs")}
    if "cancel_requested" not in columns:
        conn.execute(text("ALTER TABLE batch_jobs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT 0"))


# Steps from one schema version to the next: MIGRATIONS[v] upgrades a version-v database to v + 1.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _v1_to_v2}


class SchemaVersionError(RuntimeError):
    """The database was written by a newer version of the service."""


def migrate(engine: Engine) -> int:
    """Create missing tables and bring the schema to ``SCHEMA_VERSION``; return the version found before."""
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        row = conn.execute(select(Meta.value).where(Meta.key == "schema_version")).first()
        found = int(row[0]) if row else SCHEMA_VERSION
        if found > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the database has schema version {found}; this code knows up to {SCHEMA_VERSION}: upgrade partnermatch"
            )
        for version in range(found, SCHEMA_VERSION):
            log.info("migrating the registry database from schema version %d to %d", version, version + 1)
            MIGRATIONS[version](conn)
        if row is None:
            conn.execute(Meta.__table__.insert().values(key="schema_version", value=SCHEMA_VERSION))
        else:
            conn.execute(Meta.__table__.update().where(Meta.key == "schema_version").values(value=SCHEMA_VERSION))
    return found
