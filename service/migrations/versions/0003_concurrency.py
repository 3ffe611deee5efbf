"""Issue 12: the database arbitrates concurrent writers.

- ``schools.profile`` is JSON text on every backend (PostgreSQL's ``json`` came back decoded from psycopg).
- ``schools.version``: counts a profile's writes (the ETag; 1 for the existing rows).
- ``uq_partnerships_active_pair``: at most one active partnership per unordered pair. Duplicates an old
  database may hold are ended first (all but the oldest of each pair), so the upgrade never fails.
- PostgreSQL: a transaction that logs changes sends ``NOTIFY partnermatch_changes`` when it commits
  (a statement trigger on ``changes``), which wakes the other processes' sync.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CHANNEL = "partnermatch_changes"  # service.db.CHANGES_CHANNEL
LO = "(CASE WHEN school_a < school_b THEN school_a ELSE school_b END)"
HI = "(CASE WHEN school_a < school_b THEN school_b ELSE school_a END)"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("ALTER TABLE schools ALTER COLUMN profile TYPE TEXT USING profile::text")
    op.add_column("schools", sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.execute(
        f"UPDATE partnerships SET ended_at = CURRENT_TIMESTAMP WHERE ended_at IS NULL AND id NOT IN "
        f"(SELECT min(id) FROM partnerships WHERE ended_at IS NULL GROUP BY {LO}, {HI})"
    )
    op.create_index(
        "uq_partnerships_active_pair",
        "partnerships",
        [sa.text(LO), sa.text(HI)],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    if postgres:
        op.execute(
            "CREATE FUNCTION partnermatch_notify_changes() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER changes_notify AFTER INSERT ON changes "
            "FOR EACH STATEMENT EXECUTE FUNCTION partnermatch_notify_changes()"
        )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("DROP TRIGGER changes_notify ON changes")
        op.execute("DROP FUNCTION partnermatch_notify_changes()")
    op.drop_index("uq_partnerships_active_pair", table_name="partnerships")
    with op.batch_alter_table("schools") as batch:
        batch.drop_column("version")
    if postgres:
        op.execute("ALTER TABLE schools ALTER COLUMN profile TYPE JSON USING profile::json")
