"""Alembic environment of the registry database: runs over the connection ``service.db.migrate`` passes in
(``config.attributes["connection"]``), inside that connection's transaction.

A new revision: a file in ``versions/`` named ``NNNN_what.py`` with ``revision = "NNNN"`` (the next number),
``down_revision`` the previous one, and ``service.db.SCHEMA_VERSION`` raised to NNNN; write the operations by
hand (``op.add_column`` ...), portable to SQLite and PostgreSQL (``op.get_bind().dialect.name`` where they
differ). ``tests/service/test_db_migrations.py`` checks that the models and the migrated schema agree.
"""

from __future__ import annotations

from alembic import context

from service.db import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the registry migrations run through service.db.migrate(engine), which passes a connection")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    transactional_ddl=True,  # service.db.migrate holds one transaction (SQLite: BEGIN IMMEDIATE) around everything
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
