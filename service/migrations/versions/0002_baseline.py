"""Baseline: the schema of the pre-Alembic code (its schema version 2).

On an empty database this creates every table. On a database made by the pre-Alembic code (no
``alembic_version`` table; ``meta.schema_version`` 1 or 2) it creates only what is missing and adds
version 2's column to a version-1 database, keeping every row.

Revision ID: 0002
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = None
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)  # service.db.UTCDateTime's column type


def _tables() -> dict[str, tuple[list[sa.Column], dict, list[tuple[str, str, bool]]]]:
    """Each table of version 2: columns, table options, and indexes (name, column, unique)."""
    return {
        "schools": (
            [
                sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("school_id", sa.String(64), nullable=False),
                sa.Column("name", sa.String(200), nullable=False),
                sa.Column("country", sa.String(2), nullable=False),
                sa.Column("phase", sa.String(20), nullable=False),
                sa.Column("city", sa.String(100), nullable=True),
                sa.Column("themes", sa.Text, nullable=False),
                sa.Column("accepting", sa.Boolean, nullable=False),
                sa.Column("profile", sa.JSON, nullable=False),
                sa.Column("created_at", UTC, nullable=False),
                sa.Column("updated_at", UTC, nullable=False),
            ],
            {},
            [
                ("ix_schools_school_id", "school_id", True),
                ("ix_schools_name", "name", False),
                ("ix_schools_country", "country", False),
                ("ix_schools_phase", "phase", False),
                ("ix_schools_accepting", "accepting", False),
            ],
        ),
        "partnerships": (
            [
                sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("school_a", sa.String(64), nullable=False),
                sa.Column("school_b", sa.String(64), nullable=False),
                sa.Column("note", sa.String(500), nullable=True),
                sa.Column("started_at", UTC, nullable=False),
                sa.Column("ended_at", UTC, nullable=True),
            ],
            {},
            [
                ("ix_partnerships_school_a", "school_a", False),
                ("ix_partnerships_school_b", "school_b", False),
                ("ix_partnerships_ended_at", "ended_at", False),
            ],
        ),
        "feedback": (
            [
                sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("school_id", sa.String(64), nullable=False),
                sa.Column("candidate_id", sa.String(64), nullable=False),
                sa.Column("decision", sa.String(16), nullable=False),
                sa.Column("comment", sa.String(1000), nullable=True),
                sa.Column("score", sa.Float, nullable=True),
                sa.Column("created_at", UTC, nullable=False),
            ],
            {},
            [
                ("ix_feedback_school_id", "school_id", False),
                ("ix_feedback_candidate_id", "candidate_id", False),
                ("ix_feedback_created_at", "created_at", False),
            ],
        ),
        "batch_jobs": (
            [
                sa.Column("id", sa.String(32), primary_key=True),
                sa.Column("status", sa.String(16), nullable=False),
                sa.Column("progress", sa.Float, nullable=False),
                sa.Column("message", sa.String(500), nullable=False),
                sa.Column("cancel_requested", sa.Boolean, nullable=False),
                sa.Column("request", sa.JSON, nullable=False),
                sa.Column("result", sa.JSON, nullable=True),
                sa.Column("created_at", UTC, nullable=False),
                sa.Column("started_at", UTC, nullable=True),
                sa.Column("finished_at", UTC, nullable=True),
            ],
            {},
            [("ix_batch_jobs_status", "status", False)],
        ),
        "changes": (
            [
                sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
                sa.Column("school_id", sa.String(64), nullable=False),
                sa.Column("at", UTC, nullable=False),
            ],
            {"sqlite_autoincrement": True},
            [("ix_changes_school_id", "school_id", False), ("ix_changes_at", "at", False)],
        ),
        "meta": (
            [sa.Column("key", sa.String(64), primary_key=True), sa.Column("value", sa.JSON, nullable=False)],
            {},
            [],
        ),
    }


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for name, (columns, options, indexes) in _tables().items():
        if name in existing:
            continue
        op.create_table(name, *columns, **options)
        for index, column, unique in indexes:
            op.create_index(index, name, [column], unique=unique)
    if "batch_jobs" in existing:  # a version-1 database: batch jobs could not yet be cancelled from elsewhere
        columns = {c["name"] for c in inspector.get_columns("batch_jobs")}
        if "cancel_requested" not in columns:
            op.add_column(
                "batch_jobs", sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false())
            )


def downgrade() -> None:
    for name in reversed(list(_tables())):
        op.drop_table(name)
