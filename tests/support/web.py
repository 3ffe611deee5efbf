"""Shared names of the browser tests: paths, the Chromium command line, the test key, the running server."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.smtp import Mailbox

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
    """A running service: base URL, the registry records it was seeded with, an API client with the staff key,
    the site that signs its users in, and the SMTP server its sign-in mail goes to."""

    base: str
    records: list[dict[str, Any]]
    api: httpx.Client
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    site: SiteSigner | None = None
    mailbox: Mailbox | None = None

    def sign_in(self, context: Any, school_id: str) -> None:
        """Sign a Playwright browser context in for a school, as the Schools Online site does (its token posted
        to ``/ui/session``); the session cookie lands in the context."""
        assert self.site is not None
        r = context.request.post(f"{self.base}/ui/session", form={"token": self.site.token(school_id)}, max_redirects=0)
        assert r.status == 303 and r.headers["location"] == f"/ui/schools/{school_id}", r.text()

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


# ---------------------------------------------------------------- signing in (issue 14)
SITE_ISSUER = "https://schoolsonline.example"
SITE_AUDIENCE = "partnermatch-test"
STAFF_KEY = "web-page-staff-key-0001"
SITE_KEY = "web-page-site-key-0001"


@dataclass(frozen=True)
class SiteSigner:
    """A stand-in for the Schools Online site: an Ed25519 key pair it signs sign-in tokens with."""

    private_pem: bytes
    public_pem: str

    @classmethod
    def new(cls) -> SiteSigner:
        """A fresh key pair (made in the test; nothing is stored)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(private, public.decode())

    def env(self) -> dict[str, str]:
        """The service's settings that trust this site."""
        return {
            "PARTNERMATCH_SITE_JWT_PUBLIC_KEY": self.public_pem,
            "PARTNERMATCH_SITE_JWT_ISSUER": SITE_ISSUER,
            "PARTNERMATCH_SITE_JWT_AUDIENCE": SITE_AUDIENCE,
        }

    def token(self, school_id: str, user: str = "teacher@example.org", lifetime: int = 120, **claims: Any) -> str:
        """A signed token naming the school and the user, valid ``lifetime`` seconds (``claims`` override)."""
        import time

        import jwt

        now = int(time.time())
        body = {"iss": SITE_ISSUER, "aud": SITE_AUDIENCE, "iat": now, "exp": now + lifetime, "sub": user,
                "school_id": school_id, **claims}  # fmt: skip
        return jwt.encode(body, self.private_pem, algorithm="EdDSA")
