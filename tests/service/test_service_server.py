"""Against a real uvicorn server process on a loopback port: register -> suggest -> record a partnership ->
suggestions change -> restart (new processes on the same database: two workers) -> same state. On SQLite and on
PostgreSQL (a restart on a non-empty database)."""

from __future__ import annotations

import json
import time

import httpx

from tests.support.api import WRITE, registry_records, server_process


def suggestions(client: httpx.Client, sid: str) -> list[tuple[str, float]]:
    r = client.get(f"/schools/{sid}/suggestions", params={"k": 10})
    assert r.status_code == 200, r.text
    return [(s["school_id"], round(s["score"], 5)) for s in r.json()["suggestions"]]


def test_full_flow_survives_a_restart(tmp_path, database_url):
    records = registry_records(100, seed=21)
    # no popularity prior: it is refitted at each start on the registry as it is then, so scores could move
    config = tmp_path / "ranker.json"
    config.write_text(json.dumps({"exposure": {"prior": 0}}))
    plain = {"PARTNERMATCH_RANKER_CONFIG": str(config)}
    first = server_process(tmp_path, database_url=database_url, extra_env=plain)
    with first as base, httpx.Client(base_url=base, timeout=30) as c:
        r = c.post("/schools/import", json=records[:-1], headers=WRITE)
        assert r.status_code == 200
        assert c.post("/schools", json=records[-1], headers=WRITE).status_code == 201
        sid = next(rec["school_id"] for rec in records if len(suggestions(c, rec["school_id"])) >= 3)
        assert c.patch(f"/schools/{sid}", json={"capacity": 6}, headers=WRITE).status_code == 200
        before = suggestions(c, sid)
        top = before[0][0]
        r = c.post("/partnerships", json={"school_a": sid, "school_b": top}, headers=WRITE)
        assert r.status_code == 201
        pid = r.json()["id"]
        after = suggestions(c, sid)
        assert top not in [s for s, _ in after] and after != before
        mine = c.get(f"/schools/{sid}").json()
        assert top in mine["current_partners"]
        assert c.post("/feedback", json={"school_id": sid, "candidate_id": after[0][0], "decision": "accept"},
                      headers=WRITE).status_code == 201  # fmt: skip
        listing = c.get("/schools", params={"limit": 500}).json()

    restarted = server_process(tmp_path, workers=2, database_url=database_url, extra_env=plain)
    with restarted as base, httpx.Client(base_url=base, timeout=30) as c:
        processes = set()
        for _ in range(60):  # new connections until both workers have answered
            with httpx.Client(base_url=base, timeout=30) as fresh:
                ready = fresh.get("/ready").json()
                assert ready["schools"] == len(records)
                assert suggestions(fresh, sid) == after
                processes.add(ready["process"])
            if len(processes) == 2:
                break
        assert len(processes) == 2
        assert c.get(f"/schools/{sid}").json() == mine
        assert c.get(f"/partnerships/{pid}").json()["active"] is True
        assert c.get("/schools", params={"limit": 500}).json() == listing
        assert c.get("/feedback", params={"school_id": sid}, headers=WRITE).json()["total"] == 1
        # ending the partnership after the restart brings the candidate back, in every worker
        assert c.post(f"/partnerships/{pid}/end", headers=WRITE).status_code == 200
        deadline = time.monotonic() + 10
        while True:
            seen = []
            for _ in range(4):
                with httpx.Client(base_url=base, timeout=30) as fresh:
                    seen.append(top in [s for s, _ in suggestions(fresh, sid)])
            if all(seen):
                break
            assert time.monotonic() < deadline, "a worker did not pick up the ended partnership"
            time.sleep(0.2)
