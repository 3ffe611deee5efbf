"""The page under other settings, in-process (no browser needed): reads closed, nobody signed in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from matching.demo.generator import generate_registry
from service.app import create_app
from service.config import Settings

KEY = "settings-test-key-0001"


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        values: dict[str, Any] = dict(data_dir=tmp_path / f"d{len(clients)}", encoder="hashing", api_keys=(KEY,))
        values.update(overrides)
        client = TestClient(create_app(Settings(**values)))
        client.__enter__()
        clients.append(client)
        records = [json.loads(p.model_dump_json()) for p in generate_registry(60, seed=5, progress=False)]
        r = client.post("/schools/import", json=records, headers={"X-API-Key": KEY})
        assert r.status_code == 200, r.text
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def a_school_with_candidates(client: TestClient) -> tuple[str, str]:
    """A school with at least one candidate, and its first candidate."""
    listed = client.get("/schools", params={"limit": 60}, headers={"X-API-Key": KEY}).json()["items"]
    ids = [s["school_id"] for s in listed]
    for school_id in ids:
        r = client.get(f"/schools/{school_id}/suggestions", params={"k": 1}, headers={"X-API-Key": KEY})
        if r.status_code == 200 and r.json()["suggestions"]:
            return school_id, r.json()["suggestions"][0]["school_id"]
    raise AssertionError("no school with a candidate")


def test_closed_reads_close_the_page_until_sign_in(make_client: Any) -> None:
    client = make_client(open_reads=False)
    school, other = a_school_with_candidates(client)
    for path in ("/ui", f"/ui/schools/{school}", "/ui?q=a"):
        r = client.get(path)
        assert r.status_code == 401 and "Sign in to see this page" in r.text and 'href="/ui/sign-in"' in r.text
        assert 'class="card' not in r.text and "result-link" not in r.text  # no registry data through the page
    r = client.post(f"/ui/schools/{school}/feedback", data={"candidate_id": other, "decision": "accept"})
    assert r.status_code == 401
    assert client.get("/feedback", params={"school_id": school}, headers={"X-API-Key": KEY}).json()["total"] == 0


def test_without_sign_in_marking_is_off_and_says_so(make_client: Any) -> None:
    client = make_client()
    school, other = a_school_with_candidates(client)
    page = client.get(f"/ui/schools/{school}")
    assert page.status_code == 200 and 'li class="card' in page.text
    assert 'id="feedback-off"' in page.text and "to mark candidates" in page.text and 'value="decline"' not in page.text
    r = client.post(
        f"/ui/schools/{school}/feedback",
        data={"candidate_id": other, "decision": "decline"},
        headers={"Accept": "application/json"},
    )
    assert r.status_code == 401 and f"Sign in as {school}" in r.json()["detail"]
    assert client.get("/feedback", params={"school_id": school}, headers={"X-API-Key": KEY}).json()["total"] == 0


def test_form_post_redirects_back_to_the_same_list_only(make_client: Any) -> None:
    client = make_client()
    school, other = a_school_with_candidates(client)
    r = client.post(
        f"/ui/schools/{school}/feedback",
        data={"candidate_id": other, "decision": "accept", "return_to": "https://evil.example/ui"},
        headers={"X-API-Key": KEY},  # staff (api_keys are staff keys)
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/ui/schools/{school}?done=accept&cand={other}"
    r = client.post(
        f"/ui/schools/{school}/feedback",
        data={"candidate_id": other, "decision": "maybe"},
        headers={"Accept": "application/json", "X-API-Key": KEY},
    )
    assert r.status_code == 422 and "decision" in r.json()["detail"]
    rows = client.get("/feedback", params={"school_id": school}, headers={"X-API-Key": KEY}).json()["items"]
    assert [(f["candidate_id"], f["decision"]) for f in rows] == [(other, "accept")]
