"""The registry database: SQLAlchemy 2 models, the engine (SQLite or PostgreSQL) and Alembic migrations at
start-up (the PostgreSQL change-feed listener is in ``service.notify``).

Each school is one row: the whole validated profile as JSON text (private fields included; only the
service's owner read shows them) plus the columns list filters need. Embeddings live in the
encoder's cache (``<data_dir>/embeddings.sqlite``), keyed by text hash.

The schema is managed by Alembic (``service/migrations``, revisions numbered like the old schema
versions: ``0002`` is the schema of the pre-Alembic code). ``migrate`` runs ``upgrade head`` in one
transaction holding the database's write lock, so several processes starting at once migrate once.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    case,
    create_engine,
    event,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool

from features.profiles import SchoolProfile

log = logging.getLogger(__name__)

SCHEMA_VERSION = 6  # the newest Alembic revision, as a number (checked against service/migrations by the tests)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BEGIN_OPTION = "partnermatch_begin"  # execution option: "IMMEDIATE" makes a SQLite transaction take the write lock
OWNS_SQLITE_BEGIN = True  # make_engine emits SQLite's BEGIN itself (service.store.sessions checks this)
CHANGES_CHANNEL = "partnermatch_changes"  # PostgreSQL NOTIFY channel: a transaction logged changes (migration 0003)
MIGRATE_TRIES = 5  # tries of the migration transaction when SQLite answers "database is locked" at once
_MIGRATION_LOCK = 0x70617274  # PostgreSQL advisory lock key held while migrating


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


class JSONText(TypeDecorator[dict[str, Any]]):
    """A JSON document stored as text on every backend: reads give a dict through the ORM and the raw JSON
    text through ``type_coerce(column, Text)`` on SQLite and PostgreSQL alike (a PostgreSQL ``json``
    column would come back already decoded from psycopg)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: dict[str, Any] | None, dialect: Any) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def process_result_value(self, value: str | dict[str, Any] | None, dialect: Any) -> dict[str, Any] | None:
        return json.loads(value) if isinstance(value, str | bytes) else value


class Base(DeclarativeBase):
    """Declarative base of the registry tables."""


class School(Base):
    """A registered school. ``seq`` keeps registration order, so a restart rebuilds rows in the same order;
    ``version`` counts the profile's writes (the ETag; the store bumps it)."""

    __tablename__ = "schools"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    school_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    country: Mapped[str] = mapped_column(String(2), index=True)
    phase: Mapped[str] = mapped_column(String(20), index=True)
    city: Mapped[str | None] = mapped_column(String(100))
    themes: Mapped[str] = mapped_column(Text, default="")  # ";tag;tag;" so a filter is one LIKE
    accepting: Mapped[bool] = mapped_column(Boolean, index=True)  # active and free capacity > 0
    profile: Mapped[dict[str, Any]] = mapped_column(JSONText)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
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
    """An agreed partnership; ending it keeps the row (``ended_at``) as history. At most one active row per
    unordered pair (``uq_partnerships_active_pair``, a partial unique index)."""

    __tablename__ = "partnerships"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    school_a: Mapped[str] = mapped_column(String(64), index=True)
    school_b: Mapped[str] = mapped_column(String(64), index=True)
    note: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


ACTIVE_PAIR_WHERE = "ended_at IS NULL"
ACTIVE_PAIR_INDEX = Index(
    "uq_partnerships_active_pair",
    case((Partnership.school_a < Partnership.school_b, Partnership.school_a), else_=Partnership.school_b),
    case((Partnership.school_a < Partnership.school_b, Partnership.school_b), else_=Partnership.school_a),
    unique=True,
    sqlite_where=text(ACTIVE_PAIR_WHERE),
    postgresql_where=text(ACTIVE_PAIR_WHERE),
)


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
    """One row per school written: other processes serving the same database replay these (``Registry.sync``).
    On PostgreSQL each inserting transaction also sends ``NOTIFY partnermatch_changes`` when it commits."""

    __tablename__ = "changes"
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_autoincrement": True}  # seq never reused, even pruned

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    school_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class UserSession(Base):
    """A signed-in session (issue 14): the id is stored only as its SHA-256 hash."""

    __tablename__ = "sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    school_id: Mapped[str | None] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(320))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class SignInLink(Base):
    """A one-time sign-in link mailed to a school's contact: the token is stored only as its SHA-256 hash."""

    __tablename__ = "sign_in_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    school_id: Mapped[str] = mapped_column(String(64), index=True)
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuditRecord(Base):
    """One write: who (subject, role), acting for which school, what (action, targets), when, from where."""

    __tablename__ = "audit_log"
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    subject: Mapped[str] = mapped_column(String(320), index=True)
    role: Mapped[str] = mapped_column(String(16))
    acting_for: Mapped[str | None] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    targets: Mapped[str] = mapped_column(Text, default="")  # ";id;id;" so a filter is one LIKE
    address: Mapped[str | None] = mapped_column(String(64))


class ApiKey(Base):
    """An API key made by the admin (issue 14): only the SHA-256 of the key is stored, plus a short prefix."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))  # staff / site / reader / school
    school_id: Mapped[str | None] = mapped_column(String(64), index=True)  # a school key's school, else NULL
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PartnershipRequest(Base):
    """A partnership request from one school to another (issue 15); its states: ``service.requests_state``.
    At most one open request per unordered pair (``uq_requests_open_pair``, a partial unique index)."""

    __tablename__ = "partnership_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    from_school: Mapped[str] = mapped_column(String(64), index=True)
    to_school: Mapped[str] = mapped_column(String(64), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), index=True)
    decline_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)  # the pair's score when requested
    partnership_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


OPEN_REQUEST_WHERE = "state = 'open'"
OPEN_REQUEST_INDEX = Index(
    "uq_requests_open_pair",
    case(
        (PartnershipRequest.from_school < PartnershipRequest.to_school, PartnershipRequest.from_school),
        else_=PartnershipRequest.to_school,
    ),
    case(
        (PartnershipRequest.from_school < PartnershipRequest.to_school, PartnershipRequest.to_school),
        else_=PartnershipRequest.from_school,
    ),
    unique=True,
    sqlite_where=text(OPEN_REQUEST_WHERE),
    postgresql_where=text(OPEN_REQUEST_WHERE),
)


class OutboxMessage(Base):
    """A mail to send (the transactional outbox, issue 15): written in the transaction of the change it tells
    about; a sender claims it (``claimed_until``: a lease), sends it with its own ``message_id`` and marks it
    sent. ``dedupe_key`` (unique) makes a message that must go once (a reminder, a mutual match) idempotent."""

    __tablename__ = "outbox"
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    to_addr: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Meta(Base):
    """Key/value facts about the database: schema version, the vectorizer's language vocabulary."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    """A new SQLite connection: WAL, busy timeout, foreign keys, and pysqlite's own transactions off."""
    dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" sends BEGIN itself (_sqlite_begin)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    """Every SQLAlchemy transaction on SQLite is a real one: ``BEGIN`` (one snapshot for its reads), or
    ``BEGIN IMMEDIATE`` (the write lock from the start) with the execution option ``BEGIN_OPTION``."""
    mode = str(conn.get_execution_options().get(BEGIN_OPTION, "")).upper()
    if mode not in ("", "DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
        raise ValueError(f"{BEGIN_OPTION}={mode!r}: allowed are DEFERRED, IMMEDIATE and EXCLUSIVE")
    conn.exec_driver_sql(f"BEGIN {mode}".strip())


def make_engine(url: str) -> Engine:
    """An engine for ``url``: SQLite, or PostgreSQL through psycopg 3 (``postgresql://`` and
    ``postgresql+psycopg://`` alike; ``pip install 'partnermatch[postgres]'``).

    SQLite gets WAL mode, a busy timeout, foreign keys and real transactions (see ``_sqlite_begin``).
    """
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if parsed.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool
    else:
        kwargs["pool_pre_ping"] = True  # a restarted database server costs one failed ping, not a failed request
    try:
        engine = create_engine(parsed, **kwargs)
    except ModuleNotFoundError as exc:
        raise RuntimeError(
            f"database_url names the {parsed.drivername} driver, which is not installed ({exc.name}); "
            "for PostgreSQL: pip install 'partnermatch[postgres]'"
        ) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
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


class SchemaVersionError(RuntimeError):
    """The database was written by a newer version of the service (or its schema marker is unreadable)."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration, built in code, that migrates over ``connection`` (in its transaction);
    without one it only reads the revisions (``alembic.script.ScriptDirectory.from_config``)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _found_version(conn: Connection) -> int:
    """The schema version of the database: its Alembic revision, the pre-Alembic marker (``meta``), or 0 if empty."""
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" in tables:
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        if revision is None:
            return 0
        if not str(revision).isdigit():
            raise SchemaVersionError(
                f"the database has Alembic revision {revision!r}; this code knows 0002 to {SCHEMA_VERSION:04d}"
            )
        return int(revision)
    if "schools" not in tables:
        return 0
    if "meta" in tables:
        value = conn.execute(select(Meta.value).where(Meta.key == "schema_version")).scalar()
        if value is not None:
            return int(value)
    return 2  # the pre-Alembic code wrote no marker only before it knew versions; its shape is version 2's


def migrate(engine: Engine) -> int:
    """Bring the database to the newest schema (``alembic upgrade head``); return the version found before
    (0: an empty database). A database made by the pre-Alembic code (schema version 1 or 2, no
    ``alembic_version`` table) is upgraded in place, every row kept. All in one transaction, holding the
    write lock (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock): concurrent starts migrate once.
    SQLite answers "database is locked" without waiting in a few of its locking steps (processes opening a
    new file together); that transaction is tried again, up to ``MIGRATE_TRIES`` times.
    """
    attempt = 1
    while True:
        try:
            return _migrate_once(engine)
        except OperationalError as exc:
            locked = engine.dialect.name == "sqlite" and "database is locked" in str(exc)
            if not locked or attempt >= MIGRATE_TRIES:
                raise
            log.info("the database was locked while migrating (try %d of %d); trying again", attempt, MIGRATE_TRIES)
            time.sleep(0.05 * attempt)
            attempt += 1


def _migrate_once(engine: Engine) -> int:
    """One try of ``migrate``: the whole upgrade in one transaction (rolled back on any error)."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:  # a migration may rebuild a table (ALTER on SQLite): no cascades meanwhile; checked before commit
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        try:
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
                found = _found_version(conn)
                if found > SCHEMA_VERSION:
                    raise SchemaVersionError(
                        f"the database has schema version {found}; this code knows up to {SCHEMA_VERSION}: "
                        "upgrade partnermatch"
                    )
                if found < SCHEMA_VERSION:
                    log.info("migrating the registry database from schema version %d to %d", found, SCHEMA_VERSION)
                    command.upgrade(alembic_config(conn), "head")
                    _write_marker(conn)
                if sqlite and (broken := conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()):
                    raise SchemaVersionError(f"the migration left rows breaking a foreign key: {broken[:5]}")
        finally:
            if sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    return found


def _write_marker(conn: Connection) -> None:
    """Keep the pre-Alembic marker (``meta.schema_version``) current, so older code refuses a newer database."""
    table = Meta.__table__
    if conn.execute(select(Meta.key).where(Meta.key == "schema_version")).first() is None:
        conn.execute(table.insert().values(key="schema_version", value=SCHEMA_VERSION))
    else:
        conn.execute(table.update().where(Meta.key == "schema_version").values(value=SCHEMA_VERSION))
