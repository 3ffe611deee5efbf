"""Issue 15: introductions.

- ``partnership_requests``: a school's request to another (open/accepted/declined/withdrawn/expired), at
  most one open request per unordered pair (a partial unique index).
- ``outbox``: mail written in the transaction of the change it tells about; a sender delivers it.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

LO = "(CASE WHEN from_school < to_school THEN from_school ELSE to_school END)"
HI = "(CASE WHEN from_school < to_school THEN to_school ELSE from_school END)"
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "partnership_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("from_school", sa.String(64), nullable=False),
        sa.Column("to_school", sa.String(64), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decline_reason", sa.String(32), nullable=True),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("partnership_id", sa.Integer, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("answered_at", TZ, nullable=True),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("reminded_at", TZ, nullable=True),
    )
    for column in ("from_school", "to_school", "state", "created_at", "expires_at"):
        op.create_index(f"ix_partnership_requests_{column}", "partnership_requests", [column])
    op.create_index(
        "uq_requests_open_pair",
        "partnership_requests",
        [sa.text(LO), sa.text(HI)],
        unique=True,
        sqlite_where=sa.text("state = 'open'"),
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(255), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=True, unique=True),
        sa.Column("to_addr", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body_text", sa.Text, nullable=False),
        sa.Column("body_html", sa.Text, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("next_attempt_at", TZ, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_until", TZ, nullable=True),
        sa.Column("sent_at", TZ, nullable=True),
        sa.Column("failed_at", TZ, nullable=True),
        sqlite_autoincrement=True,
    )
    for column in ("kind", "next_attempt_at", "sent_at"):
        op.create_index(f"ix_outbox_{column}", "outbox", [column])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_index("uq_requests_open_pair", table_name="partnership_requests")
    op.drop_table("partnership_requests")
