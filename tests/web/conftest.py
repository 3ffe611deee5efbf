"""Browser tests of the school page: a real uvicorn server, Debian's headless Chromium driven by Playwright, axe-core.

Needs (installed by ``make test``): ``apt-get install -y chromium chromium-driver``, the ``playwright`` Python
package (dev extras; its own browser download is never used), and ``npm ci --prefix tests/web`` (axe-core).
When any of them is missing the tests FAIL with the command to run; they never skip.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.servers import server_process
from tests.support.smtp import smtp_server
from tests.support.web import (
    ARTIFACTS,
    AXE_JS,
    CHROMIUM,
    CHROMIUM_ARGS,
    N_SCHOOLS,
    SEED,
    SITE_KEY,
    WRITE_KEY,
    SiteSigner,
    WebServer,
)


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """``python -m service serve`` on a free loopback port (hashing encoder), seeded with a demo registry; it
    trusts a test site's key (signing in through the site) and mails through an SMTP server on loopback."""
    from matching.demo.generator import generate_registry

    data_dir = tmp_path_factory.mktemp("web-registry")
    records = [json.loads(p.model_dump_json()) for p in generate_registry(N_SCHOOLS, seed=SEED, progress=False)]
    site = SiteSigner.new()
    with smtp_server() as mailbox:
        env = {
            "PARTNERMATCH_API_KEYS": WRITE_KEY,
            "PARTNERMATCH_SITE_KEYS": SITE_KEY,
            **site.env(),
            **mailbox.env(),
            "PARTNERMATCH_RATE_SIGN_IN": "1000/minute",
        }  # fmt: skip  (every test signs in from 127.0.0.1)
        with (
            server_process(data_dir, env, timeout=60) as base,
            httpx.Client(base_url=base, headers={"X-API-Key": WRITE_KEY}, timeout=60.0) as api,
        ):
            r = api.post("/schools/import", json=records)
            assert r.status_code == 200, r.text
            yield WebServer(base, records, api, {rec["school_id"]: rec for rec in records}, site, mailbox)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium under Playwright; fails loudly (never skips) when it cannot start."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"Playwright for Python is missing ({exc}): pip install -e '.[dev]' (never `playwright install`)")
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: apt-get update && apt-get install -y chromium chromium-driver"
        )
    pw = sync_playwright().start()
    try:
        try:
            chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        except Exception as exc:
            pytest.fail(f"headless Chromium ({CHROMIUM}) could not start: {exc}")
        yield chromium
        chromium.close()
    finally:
        pw.stop()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script (from npm, pinned in tests/web/package-lock.json)."""
    if not AXE_JS.exists():
        pytest.fail(f"axe-core is not installed ({AXE_JS} missing): run `npm ci --prefix tests/web`")
    return AXE_JS.read_text("utf-8")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (gitignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
