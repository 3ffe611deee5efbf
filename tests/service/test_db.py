"""The database layer on SQLite and on a real PostgreSQL: profiles read back the same on both, every
transaction is a real one (SQLite ``BEGIN`` / ``BEGIN IMMEDIATE``), and PostgreSQL wakes listeners when a
transaction that logged changes commits (SQLite has no listener: it polls)."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from service import db, notify
from tests.support.factories import make_registry


@pytest.fixture
def engine(database_url):
    engine = db.make_engine(database_url)
    db.migrate(engine)
    yield engine
    engine.dispose()


def test_profiles_read_back_alike_on_both_backends(engine):
    profiles = make_registry(3, seed=5)
    with Session(engine) as s, s.begin():
        for p in profiles:
            row = db.School()
            row.set_profile(p)
            s.add(row)
    with engine.connect() as conn:
        raw = conn.execute(sa.select(sa.type_coerce(db.School.profile, sa.Text)).order_by(db.School.seq)).scalars()
        texts = list(raw)
    assert all(isinstance(t, str) for t in texts)  # JSON text on both (psycopg decodes a json column itself)
    assert [type(p).model_validate_json(t) for p, t in zip(profiles, texts, strict=True)] == profiles
    with Session(engine) as s:
        rows = s.scalars(sa.select(db.School).order_by(db.School.seq)).all()
        assert [r.to_profile() for r in rows] == profiles and all(r.version == 1 for r in rows)


def in_transaction(conn: sa.Connection, db_backend: str) -> bool:
    """Whether the DBAPI connection under ``conn`` has a transaction open in the database."""
    raw = conn.connection.dbapi_connection
    if db_backend == "sqlite":
        return bool(raw.in_transaction)
    import psycopg

    return raw.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS


def test_reads_run_in_a_real_transaction(engine, db_backend):
    with engine.connect() as conn:
        conn.execute(sa.select(db.School.seq)).all()
        assert in_transaction(conn, db_backend)  # one snapshot for every read of the block
        conn.rollback()
        assert not in_transaction(conn, db_backend)


def test_immediate_transactions_exclude_each_other_on_sqlite(engine, db_backend):
    """``BEGIN_OPTION="IMMEDIATE"``: SQLite takes the write lock at BEGIN; PostgreSQL ignores the option
    (its writers lock rows), so a second such transaction starts at once there."""
    first = engine.connect().execution_options(**{db.BEGIN_OPTION: "IMMEDIATE"})
    second = engine.connect().execution_options(**{db.BEGIN_OPTION: "IMMEDIATE"})
    try:
        first.execute(sa.select(db.School.seq)).all()
        if db_backend == "sqlite":
            second.connection.dbapi_connection.execute("PRAGMA busy_timeout=100")  # not 30 s
            with pytest.raises(sa.exc.OperationalError, match="locked"):
                second.execute(sa.select(db.School.seq)).all()
        else:
            second.execute(sa.select(db.School.seq)).all()
            assert in_transaction(second, db_backend)
    finally:
        first.close()
        second.close()


def test_an_unknown_begin_mode_is_refused(engine, db_backend):
    conn = engine.connect().execution_options(**{db.BEGIN_OPTION: "NOW"})
    try:
        if db_backend == "sqlite":
            with pytest.raises(ValueError, match="IMMEDIATE"):
                conn.execute(sa.select(db.School.seq)).all()
        else:  # the option concerns SQLite only
            assert conn.execute(sa.select(db.School.seq)).all() == []
    finally:
        conn.close()


def log_change(engine: sa.Engine, school_id: str, commit: bool = True) -> None:
    with Session(engine) as s:
        s.add(db.Change(school_id=school_id))
        s.flush()
        if commit:
            s.commit()
        else:
            s.rollback()


def test_committed_changes_wake_listeners_on_postgresql(engine, db_backend):
    assert notify.supports_notify(engine) == (db_backend == "postgresql")
    calls: list[float] = []
    woke = threading.Event()

    def on_change() -> None:
        calls.append(time.monotonic())
        woke.set()

    listener = notify.listen_for_changes(engine, on_change)
    if db_backend == "sqlite":
        assert listener is None  # SQLite: the sync polls the change log
        with pytest.raises(ValueError, match="PostgreSQL"):
            notify.ChangeListener(engine, on_change)
        return
    assert listener is not None
    try:
        assert listener.listening.wait(10) and woke.wait(10)  # one call when listening starts
        woke.clear()
        log_change(engine, "rolled-back", commit=False)
        assert not woke.wait(1.0)  # nothing committed: nobody woken
        log_change(engine, "committed")
        assert woke.wait(5)
        woke.clear()
        with Session(engine) as s, s.begin():  # many rows in one transaction: one wake-up
            s.add_all([db.Change(school_id=f"bulk-{i}") for i in range(50)])
        assert woke.wait(5)
        time.sleep(0.5)
        assert len(calls) == 3
    finally:
        listener.stop()
    assert not listener.listening.is_set()


def test_the_listener_survives_a_lost_connection(engine, db_backend):
    woke = threading.Event()
    listener = notify.listen_for_changes(engine, woke.set)
    if db_backend == "sqlite":
        assert listener is None
        return
    assert listener is not None
    listener.retry = 0.2
    try:
        assert listener.listening.wait(10) and woke.wait(10)
        woke.clear()
        with engine.begin() as conn:  # the server drops the listener's connection
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid() AND datname = current_database()"
                )
            )
        assert woke.wait(10)  # reconnected: one catch-up call
        woke.clear()
        log_change(engine, "after-reconnect")
        assert woke.wait(5)
    finally:
        listener.stop()


def test_a_plain_postgresql_url_means_psycopg(database_url, db_backend):
    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    engine = db.make_engine(plain)
    try:
        assert engine.dialect.driver == ("psycopg" if db_backend == "postgresql" else "pysqlite")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
