"""The exposure cap (issue 15 item 5): a school with many unanswered partnership requests is shown less in others'
lists, with a reason, and is shown as before once they are answered; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from matching.core.scoring import Demand
from service import introductions
from service.app import create_app
from service.demand import NOTE, demand_factor, demand_of
from tests.service.requests_support import V1, ask, school, seed
from tests.support.api import make_settings, site
from tests.support.polling import eventually

CAP = 2
SHOWN_LESS = NOTE[0].upper() + NOTE[1:]


@pytest.fixture
def client(tmp_path, database_url):
    settings = make_settings(tmp_path, database_url=database_url, outbox_poll_seconds=0, exposure_cap=CAP)
    with TestClient(create_app(settings)) as c:
        abroad = [school(f"k{i}", capacity=2) for i in range(4)]
        seed(c, [school("u0", "GB"), school("u1", "GB"), school("u2", "GB"), *abroad])
        yield c


def ranked(client: TestClient, school_id: str = "u0") -> list[dict[str, Any]]:
    r = client.get(f"/v1/schools/{school_id}/suggestions", params={"k": 10, "diversity": "none"})
    assert r.status_code == 200, r.text
    return r.json()["suggestions"]


def position(items: list[dict[str, Any]], school_id: str) -> tuple[int, float, list[str]]:
    """(rank, score, reason sentences) of ``school_id`` in a list."""
    [item] = [x for x in items if x["school_id"] == school_id]
    return item["rank"], item["score"], item["reasons"]["text"]


def test_a_school_at_the_cap_falls_in_others_lists_and_rises_back_once_answered(client):
    before = ranked(client)
    top = before[0]["school_id"]  # the third school's (u0's) best candidate
    rank0, score0, text0 = position(before, top)
    assert rank0 == 1 and SHOWN_LESS not in text0

    rids = [ask(client, sender, top).json()["id"] for sender in ("u1", "u2")]  # CAP open requests
    assert introductions.exposure(client.app.state.registry) == {top: CAP}
    rank1, score1, text1 = position(ranked(client), top)
    assert rank1 > rank0 and score1 == pytest.approx(score0 * demand_factor(CAP, CAP), rel=1e-5)
    assert text1[-1] == SHOWN_LESS
    explained = client.get(f"/v1/schools/u0/explain/{top}").json()
    assert explained["score"] == pytest.approx(score1, rel=1e-5) and explained["reasons"]["text"][-1] == SHOWN_LESS
    assert explained["reasons"]["shown_less"] == NOTE
    others = [x for x in ranked(client) if x["school_id"] != top]
    assert all(SHOWN_LESS not in x["reasons"]["text"] for x in others)
    page = client.get("/ui/schools/u0")  # the school page ranks through the same registry
    assert page.status_code == 200 and page.text.count('data-role="shown-less"') == 1
    # the receiver's own list (and the schools it asks for nothing) is not what the cap changes
    assert all(SHOWN_LESS not in x["reasons"]["text"] for x in ranked(client, top))

    r = client.post(f"{V1}/{rids[0]}/decline", json={"reason": "no_places"}, headers=site(top))
    assert r.status_code == 200, r.text
    rank2, score2, text2 = position(ranked(client), top)
    assert (rank2, SHOWN_LESS in text2) == (1, False) and score2 == pytest.approx(score0, rel=1e-6)
    assert 'data-role="shown-less"' not in client.get("/ui/schools/u0").text

    # again at the cap, then withdrawn: the same way back
    rid = ask(client, "u0", top).json()["id"]
    assert position(ranked(client, "u1"), top)[0] > 1 or len(ranked(client, "u1")) == 1
    assert client.post(f"{V1}/{rid}/withdraw", headers=site("u0")).status_code == 200
    assert SHOWN_LESS not in position(ranked(client), top)[2]


def test_other_processes_requests_reach_the_lists_within_the_sync_interval(client):
    """Counts changed behind this process's back (another process's commit) are re-read every sync_interval."""
    registry = client.app.state.registry
    assert registry.settings.sync_interval > 0
    top = ranked(client)[0]["school_id"]
    for sender in ("u1", "u2"):
        ask(client, sender, top)
    assert SHOWN_LESS in position(ranked(client), top)[2]
    with registry.engine.begin() as conn:  # as another process would: no hook in this one
        conn.execute(sqlalchemy.text("UPDATE partnership_requests SET state = 'withdrawn' WHERE state = 'open'"))
    eventually(lambda: SHOWN_LESS not in position(ranked(client), top)[2], timeout=10, what="the counts re-read")
    assert registry.holder.demand.factors == {}


def test_the_clock_expiring_requests_lifts_the_cap(client):
    registry = client.app.state.registry
    top = ranked(client)[0]["school_id"]
    for sender in ("u1", "u2"):
        ask(client, sender, top)
    with registry.engine.begin() as conn:  # both past their expiry, not yet expired by the clock
        conn.execute(sqlalchemy.text("UPDATE partnership_requests SET expires_at = created_at"))
    registry.demand.stop()  # only the clock's own refresh may lift it here
    assert introductions.exposure(registry) == {}
    assert introductions.expire_and_remind(registry) == (2, 0)
    assert SHOWN_LESS not in position(ranked(client), top)[2]


def test_demand_factor_falls_with_the_count_above_the_cap():
    assert [demand_factor(n, 3) for n in (0, 2)] == [1.0, 1.0]
    assert demand_factor(3, 3) == pytest.approx(0.75) and demand_factor(5, 3) == pytest.approx(0.5)
    assert demand_of({"a": 1, "b": 3}, 3) == Demand({"b": 0.75}, NOTE)
    with pytest.raises(ValueError, match="exposure_cap"):
        demand_factor(1, 0)


def test_an_inbox_ranks_a_busy_sender_by_fit_not_shown_less(client):
    before = ranked(client)
    top = before[0]["school_id"]
    score0 = position(before, top)[1]
    for sender in ("u1", "u2"):
        ask(client, sender, top)
    assert SHOWN_LESS in position(ranked(client), top)[2]  # shown less in u0's list...
    r = ask(client, top, "u0")  # ...but when it asks u0, u0's inbox shows its plain fit
    assert r.status_code == 201, r.text
    [item] = client.get(V1, params={"school_id": "u0"}, headers=site("u0")).json()["items"]
    assert item["school"]["school_id"] == top and SHOWN_LESS not in item["reasons"]["text"]
    assert item["score"] == pytest.approx(score0, rel=1e-5)
