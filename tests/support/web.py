"""Shared names of the browser tests: paths, the Chromium command line, the test key, the running server."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
WEB_TESTS = REPO / "tests" / "web"
ARTIFACTS = REPO / "artifacts" / "web"
AXE_JS = WEB_TESTS / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("PARTNERMATCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WRITE_KEY = "web-page-test-key-0001"
N_SCHOOLS = 240
SEED = 0


@dataclass
class WebServer:
    """A running service: base URL, the registry records it was seeded with, an API client with the write key."""

    base: str
    records: list[dict[str, Any]]
    api: httpx.Client
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)

    def suggestions(self, school_id: str, **params: Any) -> dict[str, Any]:
        """The API's suggestions (the page must show the same)."""
        r = self.api.get(f"/schools/{school_id}/suggestions", params=params)
        assert r.status_code == 200, r.text
        return r.json()

    def feedback(self, school_id: str) -> list[dict[str, Any]]:
        """Feedback stored for a school, newest first (read through the API with the key)."""
        r = self.api.get("/feedback", params={"school_id": school_id})
        assert r.status_code == 200, r.text
        return r.json()["items"]
