"""A toy hard rule added in one place (``matching.core.rules.register``), for the tests that check every
consumer of the rule registry sees it: suggest, batch, explain, diagnose, the API and the page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from matching.core.columns import Query, SchoolColumns
from matching.core.filters import RequestFilters
from matching.core.index import SchoolIndex
from matching.core.rules import Rule, register, unregister

TOY = "toy_not_blocked"
TOY_MESSAGE = "the candidate is on the toy block list"


class ToyRule:
    """Candidates whose id is in ``blocked`` are ruled out (set it in the test)."""

    def __init__(self) -> None:
        self.blocked: set[str] = set()

    def mask(self, q: Query, c: SchoolColumns, index: SchoolIndex, filters: RequestFilters) -> np.ndarray:
        """``bool[m, n]``: the candidate is not blocked (the same for every query)."""
        ok = np.array([sid not in self.blocked for sid in c.ids[: len(c)]], dtype=bool)
        return np.broadcast_to(ok, (len(q.rows), len(c)))


@contextmanager
def toy_rule() -> Iterator[ToyRule]:
    """Register the toy rule for the block (its block list is read at every call: not cacheable)."""
    state = ToyRule()
    register(Rule(TOY, TOY_MESSAGE, state.mask, candidate_columns=("ids",), cacheable=False))
    try:
        yield state
    finally:
        unregister(TOY)
