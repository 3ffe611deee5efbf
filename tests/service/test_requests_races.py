"""20 concurrent accepts competing for one school's last place, decided by two server processes
(``serve --workers 2``) on SQLite and on PostgreSQL: exactly one partnership, one accepted request, and the
other 19 answered 409 naming the school with no free place (issue 15)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import NamedTuple

import pytest

from tests.service.requests_support import school
from tests.support import servers
from tests.support.api import SITE_KEY, WRITE_KEY, site
from tests.support.races import active_partnerships, at_once, imported, pinned_clients, sql, stored_profiles

pytestmark = pytest.mark.slow

ROUNDS = 3
CONTENDERS = 20
V1 = "/partnership-requests"


class Served(NamedTuple):
    base: str
    database_url: str


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data_dir = tmp_path_factory.mktemp(f"request-races-{request.param}")
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_server").create_database("request_races")
    else:
        database_url = f"sqlite:///{data_dir / 'registry.sqlite'}"
    env = {"PARTNERMATCH_API_KEYS": WRITE_KEY, "PARTNERMATCH_SITE_KEYS": SITE_KEY,
           "PARTNERMATCH_DATABASE_URL": database_url, "PARTNERMATCH_RATE_WRITES": "100000/minute",
           "PARTNERMATCH_MAX_OPEN_REQUESTS": "50"}  # fmt: skip
    with servers.server_process(data_dir, env, workers=2) as base:
        yield Served(base, database_url)


def test_twenty_concurrent_accepts_make_exactly_one_partnership(served):
    base, database_url = served
    uk = [school(f"ru{i}", "GB", capacity=ROUNDS) for i in range(CONTENDERS)]
    targets = [school(f"rk{r}", capacity=1) for r in range(ROUNDS)]
    with pinned_clients(base, per_worker=CONTENDERS // 2) as by_worker:
        clients = [c for cs in by_worker.values() for c in cs]  # half on each worker
        imported(clients[0], uk + targets)
        for r, target in enumerate(targets):
            tid = target["school_id"]
            ids = []
            for c, u in zip(clients, uk, strict=True):
                made = c.post(V1, json={"from_school": u["school_id"], "to_school": tid}, headers=site(u["school_id"]))
                assert made.status_code == 201, made.text
                ids.append(made.json()["id"])
            results = at_once(
                [partial(c.post, f"{V1}/{rid}/accept", headers=site(tid)) for c, rid in zip(clients, ids, strict=True)]
            )
            codes = [res.status_code for res in results]
            assert sorted(codes) == [200] + [409] * (CONTENDERS - 1), f"round {r}: {codes}"
            for res in results:
                if res.status_code == 409:
                    assert f"school {tid!r} has no free place" in res.json()["detail"], res.text
            winner = uk[codes.index(200)]["school_id"]
            assert active_partnerships(database_url, tid) == [(winner, tid)]
            states = sql(database_url, "SELECT state, count(*) FROM partnership_requests WHERE to_school = :t "
                         "GROUP BY state ORDER BY state", t=tid)  # fmt: skip
            assert states == [("accepted", 1), ("open", CONTENDERS - 1)], f"round {r}: {states}"
            stored = stored_profiles(database_url)
            assert stored[tid]["current_partners"] == [winner]
            holding = [u["school_id"] for u in uk if tid in stored[u["school_id"]].get("current_partners", [])]
            assert holding == [winner]
