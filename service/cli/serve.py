"""``python -m service serve``: start the HTTP API with uvicorn; say "ready", with a school page's URL, once it answers.

``--demo`` (``make run``) also turns on demo mode: sign-in mail is written to the console instead of being sent,
and a sign-in link for the demo school is printed after the ready line.

Settings come from ``PARTNERMATCH_*`` environment variables, overridden by the options; a bad value of either
is a one-line error naming the setting, the value and what is allowed (exit code 2), never a traceback.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from service.cli.common import fail

ENV_PREFIX = "PARTNERMATCH_"
READY_PREFIX = "partnermatch is ready:"
SECRET_SETTINGS = frozenset(
    {"api_keys", "read_api_keys", "staff_keys", "site_keys", "admin_keys", "database_url", "smtp_password"}
)  # values never echoed
POLL_S = 0.25


def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default 8000)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="registry, caches and results (default ./var)")] = None,
    encoder: Annotated[
        str | None, typer.Option(help="real (all-MiniLM-L6-v2), multilingual (USE v3) or hashing (fast stand-in)")
    ] = None,
    reencode: Annotated[
        bool | None,
        typer.Option("--reencode", help="the embedding cache holds another model's vectors: drop and re-encode them"),
    ] = None,
    demo: Annotated[
        bool | None,
        typer.Option(
            "--demo/--no-demo",
            help="import the demo registry when the database is empty, and demo mode: sign-in mail goes to the "
            "console (never sent) and a demo school's sign-in link is printed",
        ),
    ] = None,
    demo_schools: Annotated[int | None, typer.Option(help="size of the demo registry")] = None,
    workers: Annotated[
        int | None, typer.Option(help="server processes, each with the index in memory (default 1)")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="a write key (else PARTNERMATCH_API_KEYS, else one is made up and printed)")
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Start the service (settings: PARTNERMATCH_* environment variables, overridden by these options).

    Prints a "ready" line with the URL of a UK school's page once the server answers.
    """
    options = dict(host=host, port=port, data_dir=data_dir, encoder=encoder, load_demo=demo, reencode=reencode,
                   demo_schools=demo_schools, workers=workers, api_keys=api_key)  # fmt: skip
    if demo:
        options["demo_mode"] = True
    given = {name: f"--{flag}" for name, flag in _FLAGS.items() if options.get(name) is not None}
    for name, value in options.items():  # the environment carries the settings to every worker process
        if value is not None:
            os.environ[f"{ENV_PREFIX}{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    settings = load_settings(given)
    if not settings.api_keys:
        made_up = secrets.token_urlsafe(24)
        os.environ[f"{ENV_PREFIX}API_KEYS"] = made_up
        typer.echo(f"No API key configured (PARTNERMATCH_API_KEYS): writes for this run need X-API-Key: {made_up}")
        settings = load_settings(given)
    _check_cached_model(settings)
    typer.echo(
        f"partnermatch: loading the registry from {settings.data_dir} (encoder {settings.encoder}); "
        "the page's address follows once the server answers ..."
    )
    if settings.workers == 1:
        _serve_one(settings, log_level)
        return
    _serve_many(settings, log_level)


def _check_cached_model(settings: Any) -> None:
    """Refuse to start (exit 1, one clear message) on an embedding cache of another model, unless re-encoding."""
    from features.encoders import encoder_name
    from features.text import EmbeddingCache, EncoderMismatchError

    path = settings.data_dir / "embeddings.sqlite"
    if settings.reencode or not path.exists():
        return
    stored, active = EmbeddingCache(path).model, encoder_name(settings.encoder)
    if stored is not None and stored != active:
        fail(str(EncoderMismatchError(path, stored, active)), 1)


_FLAGS = {"host": "host", "port": "port", "data_dir": "data-dir", "encoder": "encoder", "load_demo": "demo",
          "reencode": "reencode",
          "demo_schools": "demo-schools", "workers": "workers", "api_keys": "api-key", "demo_mode": "demo"}  # fmt: skip


def load_settings(given: dict[str, str] | None = None) -> Any:
    """The settings, or a one-line error per bad setting (its variable, option, value and what is allowed), exit 2."""
    from pydantic_settings import SettingsError

    from service.config import Settings

    try:
        return Settings()
    except ValidationError as exc:
        fail("; ".join(setting_errors(exc, given or {})), 2)
    except SettingsError as exc:  # a value the environment source could not even parse
        fail(f"bad PARTNERMATCH_* setting: {exc}", 2)


def setting_errors(exc: ValidationError, given: dict[str, str]) -> list[str]:
    """Each error of ``Settings()`` in words: ``PARTNERMATCH_ENCODER (--encoder) = 'nope': allowed: 'real' or
    'hashing'``. Secret values (keys, the database URL) are not repeated."""
    out = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        where = f"{ENV_PREFIX}{name.upper()}" + (f" ({given[name]})" if name in given else "")
        value = "" if name in SECRET_SETTINGS else f" = {error.get('input')!r}"
        out.append(f"bad setting {where}{value}: {_allowed(error)}")
    return out


def _allowed(error: Any) -> str:
    """What a setting allows, from a pydantic error."""
    kind, ctx = error["type"], error.get("ctx") or {}
    bounds = {"greater_than_equal": "at least {ge}", "greater_than": "more than {gt}",
              "less_than_equal": "at most {le}", "less_than": "less than {lt}"}  # fmt: skip
    if kind in bounds:
        return "allowed: " + bounds[kind].format(**ctx)
    named = {"bool_parsing": "true or false", "int_parsing": "a whole number", "float_parsing": "a number",
             "path_type": "a path"}  # fmt: skip
    if kind in named:
        return f"allowed: {named[kind]}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return "allowed: " + str(error["msg"]).removeprefix("Input should be ")


# ---------------------------------------------------------------- running
def _serve_one(settings: Any, log_level: str) -> None:
    import uvicorn

    from service.app import create_app
    from service.http_protocol import CoalescingHttpToolsProtocol

    server = uvicorn.Server(uvicorn.Config(create_app(settings), host=settings.host, port=settings.port,
                                           log_level=log_level, http=CoalescingHttpToolsProtocol))  # fmt: skip

    def base() -> str | None:  # the bound port (``--port 0`` picks one) once uvicorn has started
        if not server.started or not server.servers:
            return None
        port = server.servers[0].sockets[0].getsockname()[1]
        return f"http://{_connect_host(settings.host)}:{port}"

    _announce_when_ready(base, 1, settings)
    server.run()
    if not server.started:
        raise typer.Exit(3)  # as uvicorn.run: the server could not start (its log says why)


def _serve_many(settings: Any, log_level: str) -> None:
    import uvicorn

    from service.workers import reuse_port_supported, run_workers

    # a short-lived process prepares the database (migration, demo import, interrupted jobs); then the workers start
    prepare = multiprocessing.get_context("spawn").Process(target=_prepare, args=(settings,), name="prepare")
    prepare.start()
    prepare.join()
    if prepare.exitcode != 0:
        raise typer.Exit(1)
    url = f"http://{_connect_host(settings.host)}:{settings.port}"
    _announce_when_ready(lambda: url if settings.port else None, settings.workers, settings)
    if reuse_port_supported():  # a socket per worker: connections spread evenly (see service.workers)
        try:
            status = run_workers(settings.host, settings.port, settings.workers, log_level)
        except OSError as exc:  # the port is taken, or the host is not an address of this machine
            typer.echo(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}", err=True)
            raise typer.Exit(1) from None
        raise typer.Exit(status)
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=log_level,
    )


def _prepare(settings: object) -> None:
    from service.registry import Registry

    Registry.open(settings.model_copy(update={"sync_interval": 0.0}), primary=True).close()  # type: ignore[attr-defined]


def _connect_host(host: str) -> str:
    """Where a browser on this machine reaches the server."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


# ---------------------------------------------------------------- the "ready" line
def _announce_when_ready(base: Any, workers: int, settings: Any) -> threading.Thread:
    """A daemon thread that waits until every worker answers ``/ready`` (so ``/health`` too), then prints the
    ready line with a school page's URL and the docs' URL."""
    key = settings.api_keys[0].get_secret_value() if settings.api_keys else None

    def watch() -> None:
        from service.workers import ready_processes

        while True:
            url = base()
            if url is not None:
                try:
                    if ready_processes(url, workers, 2.0) == workers:
                        break
                except OSError:  # nothing listens yet
                    pass
            time.sleep(POLL_S)
        try:
            line = ready_line(url, key, settings.open_reads and not settings.private_page)
        except (OSError, ValueError) as exc:  # the API answered /ready but not the school list: say so
            line = f"{READY_PREFIX} {url}/ui (no school page picked: {exc})   API docs: {url}/docs"
        typer.echo(line)
        if settings.demo_mode:
            typer.echo(demo_sign_in_line(settings, url, key))

    thread = threading.Thread(target=watch, name="announce-ready", daemon=True)
    thread.start()
    return thread


def ready_line(base: str, key: str | None, open_reads: bool) -> str:
    """``partnermatch is ready: <a school's page> ...`` (the page of the demo school ``matching.demo.demo_school``
    picks, found through the API), or the search page when no school is registered."""
    docs = f"API docs: {base}/docs"
    if not open_reads:
        return f"{READY_PREFIX} {base}/ui/sign-in (the school page needs sign-in)   {docs}"
    school = _demo_school(base, key)
    if school is None:
        return f"{READY_PREFIX} {base}/ui (no school is registered yet)   {docs}"
    page = f"{base}/ui/schools/{school.school_id}"
    status = _status(page)
    if status != 200:
        return f"{READY_PREFIX} {base}/ui (the page of {school.school_id} answered {status})   {docs}"
    return f"{READY_PREFIX} {page} (suggestions for {school.name}; find any school at {base}/ui)   {docs}"


DEMO_SIGN_IN_PREFIX = "demo sign-in:"


def demo_sign_in_line(settings: Any, base: str, key: str | None) -> str:
    """Demo mode: a one-time sign-in link for the demo school (made in the database directly, as the page would
    mail it), so that marking candidates works at once; or why there is none."""
    try:
        school = _demo_school(base, key)
        if school is None:
            return f"{DEMO_SIGN_IN_PREFIX} no school is registered yet; ask for a link at {base}/ui/sign-in"
        link = _issue_link(settings.model_copy(update={"public_url": settings.public_url or base}), school.school_id)
    except Exception as exc:  # the server runs on; the console says why there is no link
        return f"{DEMO_SIGN_IN_PREFIX} no link ({type(exc).__name__}: {exc}); ask for one at {base}/ui/sign-in"
    return (
        f"{DEMO_SIGN_IN_PREFIX} {link.url} signs you in for {school.name} (once, within "
        f"{settings.sign_in_link_minutes} minutes; more links: {base}/ui/sign-in, their mail is shown here)"
    )


def _issue_link(settings: Any, school_id: str) -> Any:
    from service import db
    from service.auth import issue_sign_in_link
    from service.store import Sessions

    engine = db.make_engine(settings.sqlalchemy_url)
    try:
        return issue_sign_in_link(settings, Sessions(engine), school_id)
    finally:
        engine.dispose()


def _demo_school(base: str, key: str | None) -> Any:
    """The demo school among the registered UK schools (read through the API), or None without any."""
    from features.profiles import SchoolProfile
    from matching.demo import demo_school

    request = urllib.request.Request(f"{base}/v1/schools?country=GB&limit=500", headers={"X-API-Key": key or ""})
    with urllib.request.urlopen(request, timeout=30) as response:
        items = json.load(response)["items"]
    fields = SchoolProfile.model_fields
    profiles = [SchoolProfile.model_validate({k: v for k, v in item.items() if k in fields}) for item in items]
    return demo_school(profiles) if profiles else None


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
