"""Property tests of the partnership request's state machine (issue 15): the pure moves, and the real
operations on a real registry (SQLite) driven by hypothesis: no request leaves a final state, no school
ever has more partners than places, and every accepted request made exactly one partnership."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from features.profiles import validate_profile
from service import db, introductions, store
from service.auth import Principal
from service.errors import ConflictError, ServiceError
from service.registry import Registry
from service.requests_state import ACTIONS, FINAL, STATES, IllegalMove, is_final, next_state
from tests.service.requests_support import school
from tests.support.api import make_settings


@given(st.sampled_from(STATES), st.lists(st.sampled_from(ACTIONS), max_size=6))
def test_no_move_leaves_a_final_state(start, actions):
    state = start
    for action in actions:
        before = state
        try:
            state = next_state(state, action)
        except IllegalMove as exc:
            assert before in FINAL or (before, action) not in {("open", a) for a in ACTIONS}
            assert repr(before) in str(exc) or before in str(exc)
            continue
        assert before == "open" and is_final(state)


def test_unknown_names_are_refused_clearly():
    with pytest.raises(ValueError, match="state 'pending' is unknown"):
        next_state("pending", "accept")
    with pytest.raises(ValueError, match="action 'ignore' is unknown"):
        next_state("open", "ignore")


UK = ["pu0", "pu1", "pu2"]
ABROAD = ["pk0", "pk1", "pk2"]


def site(sid: str) -> Principal:
    return Principal(role="site", school_id=sid, subject="site key", via="api_key")


class Requests(RuleBasedStateMachine):
    """Random requests, answers and expiry between three UK schools and three abroad, on a real registry."""

    @initialize(caps=st.lists(st.integers(0, 2), min_size=6, max_size=6))
    def start(self, caps):
        self.dir = tempfile.TemporaryDirectory()
        s = make_settings(Path(self.dir.name), outbox_poll_seconds=0, requests_job_seconds=0, sync_interval=0,
                          max_open_requests=3)  # fmt: skip
        self.registry = Registry.open(s)
        records = [
            school(sid, "GB" if sid in UK else "KE", capacity=c) for sid, c in zip(UK + ABROAD, caps, strict=True)
        ]
        self.registry.import_profiles([validate_profile(r) for r in records])
        self.final: dict[int, str] = {}
        self.ids: list[int] = []
        self.now = db.utcnow()

    def teardown(self):
        if hasattr(self, "registry"):
            self.registry.close()
            self.dir.cleanup()

    @rule(a=st.sampled_from(UK + ABROAD), b=st.integers(0, 2), message=st.text(max_size=20))
    def create(self, a, b, message):
        other = (ABROAD if a in UK else UK)[b]
        try:
            made = introductions.create_request(self.registry, site(a), a, other, message)
        except ServiceError as exc:
            assert exc.status in (409, 422), exc.detail
            return
        self.ids.append(made.id)

    @precondition(lambda self: self.ids)
    @rule(data=st.data(), action=st.sampled_from(["accept", "decline", "withdraw"]))
    def answer(self, data, action):
        rid = data.draw(st.sampled_from(self.ids))
        with self.registry.sessions.read() as s:
            row = store.requests.get(s, rid)
            before, sender, receiver = row.state, row.from_school, row.to_school
            caps = {sid: r.to_profile() for sid, r in store.schools.rows(s, [sender, receiver]).items()}
        who = site(receiver if action in ("accept", "decline") else sender)
        fn = {"accept": introductions.accept, "decline": introductions.decline, "withdraw": introductions.withdraw}
        try:
            fn[action](self.registry, who, rid)
        except ConflictError as exc:
            free = all(p.free_capacity > 0 for p in caps.values())
            partners = receiver in caps[sender].current_partners
            assert before != "open" or (action == "accept" and (not free or partners)), exc.detail
            event(f"{action} refused")
            return
        assert before == "open", f"{action} moved request {rid} out of {before}"
        event(f"{action} done")

    @rule(days=st.integers(1, 40))
    def clock(self, days):
        self.now += timedelta(days=days)
        introductions.expire_and_remind(self.registry, self.now)

    @invariant()
    def final_states_stay(self):
        if not hasattr(self, "registry"):
            return
        with self.registry.sessions.read() as s:
            for rid in self.ids:
                state = store.requests.get(s, rid).state
                if rid in self.final:
                    assert state == self.final[rid], f"request {rid} left {self.final[rid]} for {state}"
                elif state in FINAL:
                    self.final[rid] = state

    @invariant()
    def places_are_never_exceeded(self):
        if not hasattr(self, "registry"):
            return
        with self.registry.sessions.read() as s:
            rows = store.schools.rows(s, UK + ABROAD)
            active = store.partnerships.active_partners(s, UK + ABROAD)
            accepted = [r for r in (store.requests.get(s, i) for i in self.ids) if r.state == "accepted"]
        for sid, row in rows.items():
            p = row.to_profile()
            assert len(p.current_partners) <= p.capacity, f"{sid}: {p.current_partners} over capacity {p.capacity}"
            assert set(p.current_partners) == active[sid]
        assert len({r.partnership_id for r in accepted}) == len(accepted)
        assert all(r.to_school in active[r.from_school] for r in accepted)


Requests.TestCase.settings = settings(
    max_examples=25, stateful_step_count=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_request_operations_keep_the_invariants = Requests.TestCase
