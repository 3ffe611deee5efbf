"""Issue 14: API keys managed by the admin.

- ``api_keys``: one key per row. The key itself is never stored: ``key_hash`` is the SHA-256 of the
  high-entropy token (hex), ``prefix`` its first characters so people can tell keys apart in lists.
  ``role`` is one of staff / site / reader / school; ``school_id`` names the school of a school key
  (NULL otherwise). A key is live while ``revoked_at`` is NULL and ``expires_at`` is NULL or later than now.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("school_id", sa.String(64), nullable=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(320), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_api_keys_key_hash", "api_keys", ["key_hash"], unique=True)
    op.create_index("ix_api_keys_school_id", "api_keys", ["school_id"])


def downgrade() -> None:
    op.drop_table("api_keys")
