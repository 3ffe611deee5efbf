"""``partnermatch keys``: the admin makes, lists, rotates and revokes API keys on the server's database
(``PARTNERMATCH_DATABASE_URL``, else ``<data dir>/registry.sqlite``), with the same functions as ``/v1/keys``.

A key is printed once, by ``create`` and ``rotate``; nothing else ever shows it. Each change is in the audit log,
made by ``cli <user>@<host>``. Exit codes: 0 done; 1 unknown key or school, or a key not live; 2 a bad value.
"""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from service.cli.common import console, fail

if TYPE_CHECKING:
    from service.auth import KeyRecord
    from service.store import Sessions
    from service.store.audit import Who

app = typer.Typer(
    help="API keys (admin): make, list, rotate and revoke them; a key is shown once, when made.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="where registry.sqlite is (default: PARTNERMATCH_DATA_DIR or ./var)")
]
Json = Annotated[bool, typer.Option("--json", help="print JSON instead of lines")]


@contextmanager
def _database(data_dir: Path | None) -> Iterator[Sessions]:
    """The server's database (migrated to the newest schema), as a unit of work; errors become messages."""
    from service import db
    from service.cli.serve import load_settings
    from service.errors import ServiceError
    from service.store import Sessions

    settings = load_settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    engine = db.make_engine(settings.sqlalchemy_url)
    try:
        db.migrate(engine)
        yield Sessions(engine)
    except ServiceError as exc:
        fail(str(exc), 2 if exc.status == 422 else 1)
    finally:
        engine.dispose()


def _who() -> Who:
    from service.store.audit import Who

    return Who(subject=f"cli {getpass.getuser()}@{socket.gethostname()}", role="admin", address="cli")


def _record(record: KeyRecord) -> dict[str, Any]:
    fields = ("id", "name", "role", "school_id", "prefix", "created_by", "revoked_by")
    out: dict[str, Any] = {f: getattr(record, f) for f in fields} | {"state": record.state()}
    for f in ("created_at", "revoked_at", "last_used_at", "expires_at"):
        value = getattr(record, f)
        out[f] = value.isoformat() if value is not None else None
    return out


def _line(record: KeyRecord) -> str:
    school = f" school={record.school_id}" if record.school_id else ""
    expires = f" expires={record.expires_at:%Y-%m-%d %H:%M}Z" if record.expires_at else ""
    return f"{record.id}  {record.prefix}...  {record.role}{school}  {record.state()}{expires}  {record.name}"


def _expiry(days: float | None) -> datetime | None:
    return None if days is None else datetime.now(UTC) + timedelta(days=days)


def _show_new(made: Any, as_json: bool, echo: Callable[[str], None]) -> None:
    if as_json:
        echo(json.dumps(_record(made.record) | {"key": made.key}))
        return
    echo(_line(made.record))
    echo(f"key: {made.key}")
    echo("Store the key now: it is not shown again (only its SHA-256 is kept).")


@app.command("create")
def create_cmd(
    role: Annotated[str, typer.Option("--role", help="staff, site, reader or school")],
    name: Annotated[str, typer.Option("--name", help="who or what uses the key")],
    school: Annotated[str | None, typer.Option("--school", help="a school key's school id")] = None,
    expires_in_days: Annotated[
        float | None, typer.Option("--expires-in-days", min=0.001, max=3650, help="the key stops working then")
    ] = None,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Make a key and print it (once)."""
    from service.auth import create_key

    with _database(data_dir) as sessions:
        made = create_key(
            sessions, name=name, role=role, school_id=school, expires_at=_expiry(expires_in_days), who=_who()
        )
    _show_new(made, as_json, typer.echo)


@app.command("list")
def list_cmd(
    include_revoked: Annotated[bool, typer.Option("--all", help="also revoked keys")] = False,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """List keys, newest first (never the keys: their first characters)."""
    from service.auth import list_keys

    records: list[KeyRecord] = []
    with _database(data_dir) as sessions:
        while True:
            page, total = list_keys(sessions, include_revoked=include_revoked, offset=len(records), limit=500)
            records += page
            if not page or len(records) >= total:
                break
    if as_json:
        typer.echo(json.dumps([_record(r) for r in records]))
    elif not records:
        console(stderr=True).print("no keys", markup=False)
    for record in records if not as_json else ():
        typer.echo(_line(record))


@app.command("revoke")
def revoke_cmd(key_id: Annotated[str, typer.Argument(help="the key's id (key_...)")], data_dir: DataDir = None) -> None:
    """Revoke a key: every server process refuses it within seconds."""
    from service.auth import revoke_key

    with _database(data_dir) as sessions:
        record = revoke_key(sessions, key_id, _who())
    typer.echo(_line(record))


@app.command("rotate")
def rotate_cmd(
    key_id: Annotated[str, typer.Argument(help="the key's id (key_...)")],
    grace_minutes: Annotated[
        int, typer.Option("--grace-minutes", min=0, max=24 * 60, help="the old key works this long still")
    ] = 0,
    expires_in_days: Annotated[
        float | None, typer.Option("--expires-in-days", min=0.001, max=3650, help="the new key stops working then")
    ] = None,
    data_dir: DataDir = None,
    as_json: Json = False,
) -> None:
    """Replace a key by a new one (printed once); the old one is revoked, or expires after the grace time."""
    from service.auth import rotate_key

    with _database(data_dir) as sessions:
        made = rotate_key(sessions, key_id, _who(), grace_minutes=grace_minutes, expires_at=_expiry(expires_in_days))
    _show_new(made, as_json, typer.echo)
