"""Shared pieces of the partnership-request tests (issue 15): schools made to order and who is asking."""

from __future__ import annotations

import random
from typing import Any

from fastapi.testclient import TestClient

from service.auth import Principal, start_session
from tests.support.api import STAFF, WRITE, site
from tests.support.factories import make_profile

V1 = "/v1/partnership-requests"


def school(sid: str, country: str = "KE", capacity: int = 1, **overrides: Any) -> dict[str, Any]:
    """An active primary school that the hard rules let pair with a school of the other side."""
    fields: dict[str, Any] = {
        "school_id": sid, "name": f"School {sid}", "country": country, "phase": "primary", "age_min": 7,
        "age_max": 11, "languages": ["en"], "active": True, "current_partners": [], "excluded": [],
        "capacity": capacity, "contact_email": f"head-{sid}@school.example",
        "themes": ["sdg13_climate_action", "music"],
    }  # fmt: skip
    if country == "GB":
        fields["uk_nation"] = "england"
    fields.update(overrides)
    return make_profile(random.Random(sid), 0, **fields).model_dump(mode="json")


def seed(client: TestClient, records: list[dict[str, Any]]) -> None:
    r = client.post("/v1/schools/import", json=records, headers=WRITE)
    assert r.status_code == 200, r.text


def session(client: TestClient, school_id: str) -> dict[str, str]:
    """A real signed-in session of a user of ``school_id``: cookie and CSRF header."""
    registry = client.app.state.registry  # type: ignore[attr-defined]
    principal = Principal(role="school", school_id=school_id, subject=f"head@{school_id}", via="session")
    session_id, csrf = start_session(client.app.state.settings, registry.sessions, principal)  # type: ignore[attr-defined]
    return {"Cookie": f"pm_session={session_id}", "X-CSRF-Token": csrf}


def ask(client: TestClient, a: str, b: str, message: str = "Hello!", headers: dict[str, str] | None = None) -> Any:
    """``a`` asks ``b`` (as the site acting for ``a`` unless ``headers`` say otherwise)."""
    body = {"from_school": a, "to_school": b, "message": message}
    return client.post(V1, json=body, headers=headers if headers is not None else site(a))


__all__ = ["STAFF", "V1", "WRITE", "ask", "school", "seed", "session", "site"]
