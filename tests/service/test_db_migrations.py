"""The registry schema under Alembic, on SQLite and on a real PostgreSQL: the migrations build exactly the
models' schema, a database made by the pre-Alembic code is upgraded keeping every row, a newer database is
refused, and processes starting together migrate once."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service import db
from service.app import create_app
from tests.support import legacy_db
from tests.support.api import make_settings
from tests.support.factories import make_registry

ACTIVE_PAIR = "uq_partnerships_active_pair"


JSON_COLUMNS = {"profile", "request", "result", "value"}


def table_rows(url: str) -> dict[str, dict[Any, dict[str, Any]]]:
    """Every row of every registry table by primary key, read with plain SQL; JSON text decoded."""

    def plain(column: str, value: Any) -> Any:
        return json.loads(value) if column in JSON_COLUMNS and isinstance(value, str) else value

    out = {}
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            for table in ("schools", "partnerships", "feedback", "batch_jobs", "changes", "meta"):
                rows = conn.execute(sa.text(f"SELECT * FROM {table}")).mappings()
                out[table] = {next(iter(row.values())): {k: plain(k, v) for k, v in row.items()} for row in rows}
        return out
    finally:
        engine.dispose()


def make_legacy_database(url: str, version: int = 2) -> None:
    """A database as the pre-Alembic code left it, with rows in every table (and, as old databases may
    hold, two active partnerships for one pair)."""
    engine = legacy_db.make_engine(url)
    legacy_db.migrate(engine)
    profiles = make_registry(6, seed=11)
    with Session(engine) as s, s.begin():
        for p in profiles:
            row = legacy_db.School()
            row.set_profile(p)
            s.add(row)
        a, b, c, d = (p.school_id for p in profiles[:4])
        s.add_all(
            [
                legacy_db.Partnership(school_a=a, school_b=b, note="first"),
                legacy_db.Partnership(school_a=b, school_b=a, note="duplicate"),
                legacy_db.Partnership(school_a=c, school_b=d, ended_at=legacy_db.utcnow()),
                legacy_db.Feedback(school_id=a, candidate_id=c, decision="declined", comment="too far", score=0.4),
                legacy_db.BatchJob(id="job1", status="done", progress=1.0, request={"top_k": 2}, result={"pairs": []}),
                legacy_db.Change(school_id=a),
                legacy_db.Meta(key="languages", value=["en", "fr"]),
            ]
        )
    with engine.begin() as conn:
        if version == 1:  # the version-1 shape: batch jobs had no cancel flag yet
            conn.execute(sa.text("ALTER TABLE batch_jobs DROP COLUMN cancel_requested"))
        conn.execute(sa.text("UPDATE meta SET value = :v WHERE key = 'schema_version'"), {"v": str(version)})
    engine.dispose()


def test_schema_version_is_the_newest_migration():
    cfg = db.alembic_config()
    assert ScriptDirectory.from_config(cfg).get_current_head() == f"{db.SCHEMA_VERSION:04d}"


@pytest.mark.filterwarnings("ignore:.*expression-based index .?uq_partnerships_active_pair")
@pytest.mark.filterwarnings("ignore:.*expression-based index .?uq_requests_open_pair")
def test_migrations_build_the_models_schema(database_url, db_backend):
    engine = db.make_engine(database_url)
    assert db.migrate(engine) == 0 and db.migrate(engine) == db.SCHEMA_VERSION  # the second start changes nothing

    def compare_type(context, inspected, metadata, inspected_type, metadata_type) -> bool | None:
        if db_backend == "sqlite" and isinstance(metadata_type, db.JSONText):
            return False  # SQLite keeps the baseline's declared JSON type: text all the same
        return None

    def not_the_expression_index(obj, name, kind, reflected, compare_to) -> bool:
        # expression indexes cannot be reflected: checked below by what they do
        return name not in (ACTIVE_PAIR, "uq_requests_open_pair")

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": compare_type, "include_object": not_the_expression_index}
        )
        assert compare_metadata(context, db.Base.metadata) == []
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    assert version == f"{db.SCHEMA_VERSION:04d}"
    # the partial unique index: one active partnership per unordered pair, any number of ended ones
    with engine.begin() as conn:
        conn.execute(sa.insert(db.Partnership), [{"school_a": "x", "school_b": "y", "ended_at": db.utcnow()}] * 2)
        conn.execute(sa.insert(db.Partnership).values(school_a="x", school_b="y"))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(db.Partnership).values(school_a="y", school_b="x"))
    engine.dispose()


@pytest.mark.parametrize("legacy_version", [1, 2])
def test_a_database_made_by_the_old_code_keeps_every_row(tmp_path, database_url, legacy_version):
    make_legacy_database(database_url, legacy_version)
    before = table_rows(database_url)
    with TestClient(create_app(make_settings(tmp_path, database_url=database_url))) as c:
        ready = c.get("/ready").json()
        assert ready["schema_version"] == db.SCHEMA_VERSION and ready["schools"] == len(before["schools"])
        for row in before["schools"].values():
            r = c.get(f"/schools/{row['school_id']}")
            assert r.status_code == 200 and r.json()["name"] == row["name"], r.text
    after = table_rows(database_url)
    for table, rows in before.items():
        if table == "meta":
            continue
        assert after[table].keys() == rows.keys(), table
        for key, row in rows.items():
            kept = {k: v for k, v in after[table][key].items() if k in row}
            if table == "partnerships" and row["note"] == "duplicate":
                assert kept.pop("ended_at") is not None and row.pop("ended_at") is None  # the newer duplicate ends
            assert kept == row, (table, key)
    assert after["schools"] and all(row["version"] == 1 for row in after["schools"].values())
    assert after["batch_jobs"]["job1"]["cancel_requested"] in (False, 0)
    assert after["meta"]["languages"]["value"] == ["en", "fr"]
    assert int(after["meta"]["schema_version"]["value"]) == db.SCHEMA_VERSION  # older code now refuses it


def test_a_newer_database_is_refused(tmp_path, make_database_url):
    url = make_database_url()
    engine = db.make_engine(url)
    db.migrate(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(db.SchemaVersionError, match="99"):
        db.migrate(engine)
    with (
        pytest.raises(db.SchemaVersionError, match="99"),
        TestClient(create_app(make_settings(tmp_path, database_url=url))),
    ):
        pass
    engine.dispose()
    legacy = make_database_url()  # a pre-Alembic database whose marker is from the future
    make_legacy_database(legacy)
    engine = db.make_engine(legacy)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE meta SET value = '77' WHERE key = 'schema_version'"))
    with pytest.raises(db.SchemaVersionError, match="77"):
        db.migrate(engine)
    engine.dispose()


def test_processes_starting_together_migrate_once(database_url):
    engines = [db.make_engine(database_url) for _ in range(4)]
    found: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(engines))

    def run(engine: sa.Engine) -> None:
        try:
            start.wait()
            found.append(db.migrate(engine))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(found) == [0] + [db.SCHEMA_VERSION] * (len(engines) - 1)  # one migrated, the others found it done
    for e in engines:
        e.dispose()


def test_a_start_that_finds_sqlite_locked_at_once_tries_again(tmp_path, monkeypatch):
    """CI, 29 November: four engines migrating a new SQLite file together; one got "database is locked" at once
    (SQLite does not wait in some locking steps). The migration transaction is tried again."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    real, tries = db._migrate_once, []

    def locked_twice(e: sa.Engine) -> int:
        tries.append(1)
        if len(tries) <= 2:
            raise sa.exc.OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
        return real(e)

    monkeypatch.setattr(db, "_migrate_once", locked_twice)
    assert db.migrate(engine) == 0 and len(tries) == 3
    assert db.migrate(engine) == db.SCHEMA_VERSION  # migrated once, found done after

    def other_error(e: sa.Engine) -> int:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("disk I/O error"))

    monkeypatch.setattr(db, "_migrate_once", other_error)
    with pytest.raises(sa.exc.OperationalError, match="disk I/O error"):
        db.migrate(engine)  # anything else is not retried
    engine.dispose()
