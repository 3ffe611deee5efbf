"""A real PostgreSQL server for the tests, started by the tests themselves (no server started by hand).

``PostgresServer`` runs Debian's ``initdb`` and ``pg_ctl`` (``/usr/lib/postgresql/<version>/bin``, the newest
found; ``PARTNERMATCH_TEST_PG_BIN`` names another folder) in a temporary directory, listening on a free
loopback port, as an unprivileged user: when the tests run as root, as the ``postgres`` user that Debian's
package creates (through ``runuser``). ``create_database()`` gives each test an empty database of its own.
Missing binaries are an error naming what to install, never a skip.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import psycopg

INSTALL_HINT = "install PostgreSQL (`apt-get install -y postgresql`, which `make test` does when it is missing)"
SERVER_USER = "postgres"  # the OS user the server runs as when the tests run as root
SETTINGS = {  # a throwaway server: speed over durability (the tests kill service processes, never this server)
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "max_connections": "300",
    "shared_buffers": "64MB",
}
DURABLE = {  # PostgreSQL's own defaults for durability (what a deployment runs): for the benchmarks
    **SETTINGS,
    "fsync": "on",
    "full_page_writes": "on",
    "synchronous_commit": "on",
    "shared_buffers": "128MB",
}


def find_bindir() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``; raises with an installation hint if there is none."""
    override = os.environ.get("PARTNERMATCH_TEST_PG_BIN")
    candidates = [Path(override)] if override else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    searched = ", ".join(map(str, candidates)) or "/usr/lib/postgresql/*/bin and PATH"
    raise RuntimeError(f"no PostgreSQL server binaries (initdb, pg_ctl) in {searched}: {INSTALL_HINT}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One PostgreSQL server in a temporary directory; ``start()``, ``create_database()``, ``stop()``.

    ``settings``: the server's configuration (``-c name=value``; default ``SETTINGS``, fast and not durable;
    ``DURABLE`` for measurements).
    """

    def __init__(self, bindir: Path | None = None, settings: Mapping[str, str] | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.settings = dict(SETTINGS if settings is None else settings)
        self.root = Path(tempfile.mkdtemp(prefix="partnermatch-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._names = itertools.count(1)
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            try:
                user = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise RuntimeError(f"running as root and there is no {SERVER_USER!r} OS user: {INSTALL_HINT}") from None
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as_user = ["runuser", "-u", SERVER_USER, "--"]

    def _run(self, args: Sequence[str]) -> None:
        done = subprocess.run([*self._as_user, *args], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stdout}{done.stderr}\n{log}")

    def start(self) -> PostgresServer:
        """initdb, then start the server on a free port (another one if that port was taken meanwhile)."""
        no_sync = ["--no-sync"] if self.settings.get("fsync") == "off" else []
        self._run([str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                   "-E", "UTF8", "--locale=C", *no_sync])  # fmt: skip
        failure: RuntimeError | None = None
        for _ in range(3):
            self.port = free_port()
            options = " ".join(f"-c {k}={v}" for k, v in {**self.settings, "port": self.port}.items())
            options += f" -k {self.root}"  # the Unix socket stays inside the temporary directory
            try:
                self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                           "-t", "60", "-o", options, "start"])  # fmt: skip
                return self
            except RuntimeError as exc:
                failure = exc
        raise RuntimeError(f"PostgreSQL did not start on three free ports: {failure}")

    @property
    def admin_url(self) -> str:
        """A libpq URL of the ``postgres`` maintenance database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of one database on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "test") -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (immediately: nothing in it is kept) and delete its directory."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
