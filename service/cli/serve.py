"""``python -m service serve``: start the HTTP API with uvicorn and print the docs URL."""

from __future__ import annotations

import multiprocessing
import os
import secrets
from pathlib import Path
from typing import Annotated

import typer


def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default 8000)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="registry, caches and results (default ./var)")] = None,
    encoder: Annotated[str | None, typer.Option(help="real (all-MiniLM-L6-v2) or hashing (fast stand-in)")] = None,
    demo: Annotated[
        bool | None, typer.Option("--demo/--no-demo", help="import the demo registry when the database is empty")
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
    """Start the service (settings: PARTNERMATCH_* environment variables, overridden by these options)."""
    import uvicorn

    from service.app import create_app
    from service.config import Settings
    from service.workers import reuse_port_supported, run_workers

    options = dict(host=host, port=port, data_dir=data_dir, encoder=encoder, load_demo=demo,
                   demo_schools=demo_schools, workers=workers, api_keys=api_key)  # fmt: skip
    for name, value in options.items():  # the environment carries the settings to every worker process
        if value is not None:
            os.environ[f"PARTNERMATCH_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    if not Settings().api_keys:
        made_up = secrets.token_urlsafe(24)
        os.environ["PARTNERMATCH_API_KEYS"] = made_up
        typer.echo(f"No API key configured (PARTNERMATCH_API_KEYS): writes for this run need X-API-Key: {made_up}")
    settings = Settings()
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    typer.echo(f"partnermatch: loading the registry from {settings.data_dir} (encoder {settings.encoder}) ...")
    typer.echo(f"API docs: http://{shown}:{settings.port}/docs   (OpenAPI: /openapi.json)")
    typer.echo(f"School page: http://{shown}:{settings.port}/ui")
    if settings.workers == 1:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=log_level)
        return
    # a short-lived process prepares the database (migration, demo import, interrupted jobs); then the workers start
    prepare = multiprocessing.get_context("spawn").Process(target=_prepare, args=(settings,), name="prepare")
    prepare.start()
    prepare.join()
    if prepare.exitcode != 0:
        raise typer.Exit(1)
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
