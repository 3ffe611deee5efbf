"""The in-memory index holder: the current snapshot (index and ranker) that every read ranks against.

Reads never wait for a write. The holder keeps two copies of the index (left-right): readers use the
front one; a change is applied to the back one (no reader is on it), the two are swapped by one
reference assignment, and once the readers still on the old front have finished, the same change is
applied to it, so it is ready to be the next back copy. A reader only ever takes a few-microsecond
counter lock (``holder.read()``): the event loop can rank on it. ``writer`` serialises the appliers
(``service.sync``), so the index applies changes in the change feed's order. The second copy is made
when a snapshot is swapped in (``SchoolIndex.copy``: arrays copied, the immutable profiles and the vectorizer
shared), at start-up or after a rebuild, so no write pays for it; a change's rows are vectorized once for
both copies.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pycountry

from features import vocab
from features.profiles import SchoolProfile, validate_profile
from features.vectorizer import SchoolVectorizer
from matching.core.config import RankerConfig
from matching.core.index import SchoolIndex
from matching.core.ranker import Ranker
from matching.core.scoring import Demand
from service.encoder import ServiceEncoder

log = logging.getLogger(__name__)


class RWLock:
    """Many readers or one writer; a waiting writer stops new readers (so writes are never starved)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        """Hold a shared lock."""
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        """Hold the exclusive lock."""
        with self._cond:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@dataclass(frozen=True)
class Snapshot:
    """One index and the ranker over it."""

    index: SchoolIndex
    ranker: Ranker


def default_languages() -> list[str]:
    """The language vocabulary for an empty registry: every country's official and main languages."""
    langs: set[str] = set()
    for country in pycountry.countries:
        langs.update(vocab.country_languages(country.alpha_2))
    return sorted(langs)


def vocabulary_profile(languages: Sequence[str]) -> SchoolProfile:
    """A stand-in profile carrying the language vocabulary: fitting on it fixes the vectorizer's columns."""
    return validate_profile(
        {
            "school_id": "vocabulary",
            "name": "vocabulary",
            "country": vocab.UK,
            "phase": "primary",
            "age_min": 5,
            "age_max": 11,
            "languages": list(languages) or ["en"],
        }
    )


def build_snapshot(
    profiles: Sequence[SchoolProfile], languages: Sequence[str], encoder: ServiceEncoder, config: RankerConfig
) -> Snapshot:
    """An index of ``profiles`` (vectorizer fitted on the stored language vocabulary) and its ranker."""
    vectorizer = SchoolVectorizer(encoder=encoder, progress=True)  # type: ignore[arg-type]
    vectorizer.fit([vocabulary_profile(languages)])
    index = SchoolIndex(vectorizer, list(profiles))
    ranker = Ranker(index, config)
    if config.exposure.prior:
        ranker.fit_exposure()  # here, off the request path (otherwise the first suggestion would fit it)
    return Snapshot(index, ranker)


class _Side:
    """One copy of the index and the readers on it."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.readers = 0
        self.idle = threading.Condition()

    def enter(self) -> None:
        with self.idle:
            self.readers += 1

    def leave(self) -> None:
        with self.idle:
            self.readers -= 1
            if not self.readers:
                self.idle.notify_all()

    def wait_idle(self) -> None:
        """Return once no reader is on this copy (new readers cannot arrive: it is no longer the front)."""
        with self.idle:
            while self.readers:
                self.idle.wait()


def clone_snapshot(snapshot: Snapshot) -> Snapshot:
    """An independent copy of a snapshot's index (``SchoolIndex.copy``: profiles and vectorizer shared) and a
    ranker over it (same config). The popularity prior's counts (``Scorer.shown``, per row, never written
    after the fit) and the per-school demand factors are shared: rows keep their numbers across ``copy`` and
    the changes applied to both copies (new rows are appended and count 0; the holder never compacts)."""
    index = snapshot.index.copy()
    ranker = Ranker(index, snapshot.ranker.config)
    ranker.scorer.shown = snapshot.ranker.scorer.shown
    ranker.scorer.demand = snapshot.ranker.scorer.demand
    return Snapshot(index, ranker)


def apply_change(
    index: SchoolIndex,
    added: Sequence[SchoolProfile],
    updated: Sequence[SchoolProfile],
    removed: Sequence[str],
    vectors: np.ndarray | None = None,
) -> None:
    """Apply one committed change to an index (raises if the index refuses it). ``vectors``: the rows of
    ``[*added, *updated]`` from ``index.vectorize``, computed once for both copies."""
    for school_id in removed:
        index.remove(school_id)
    n_added = len(added)
    if added:
        index.add(added, None if vectors is None else vectors[:n_added])
    for i, p in enumerate(updated):
        index.update(p, None if vectors is None else vectors[n_added + i])


class IndexHolder:
    """Holds the current snapshot; see the module docstring for how reads and changes share it."""

    def __init__(self) -> None:
        self.lock = RWLock()  # batch jobs take their copy of the index under its shared side (a test hook)
        self.writer = threading.RLock()  # one applier at a time: feed order == index order
        self._front: _Side | None = None
        self._back: _Side | None = None

    @property
    def current(self) -> Snapshot:
        """The current snapshot (use ``read()`` to rank with it: it stays unchanged until the block ends)."""
        if self._front is None:
            raise RuntimeError("the index is not loaded yet: call Registry.load_index first")
        return self._front.snapshot

    @property
    def indexes(self) -> tuple[SchoolIndex, ...]:
        """The index copies held now, the current one first (one copy until the first change after a rebuild)."""
        return tuple(side.snapshot.index for side in (self._front, self._back) if side is not None)

    @contextlib.contextmanager
    def read(self) -> Iterator[Snapshot]:
        """The current snapshot, not changed until the block ends (never waits for a change being applied)."""
        while True:
            side = self._front
            if side is None:
                raise RuntimeError("the index is not loaded yet: call Registry.load_index first")
            side.enter()
            if side is self._front:  # still the front: no change will touch it until we leave
                break
            side.leave()  # swapped between the two lines above: take the new front
        try:
            yield side.snapshot
        finally:
            side.leave()

    def swap(self, snapshot: Snapshot) -> None:
        """Make ``snapshot`` the current one (reads started before keep the old one). Its second copy is made
        here, in the caller's thread (start-up, a rebuild), so no write pays for it later."""
        back = _Side(clone_snapshot(snapshot))
        with self.writer:
            if self._front is not None:  # a rebuild keeps the demand factors (``set_demand``); no reader yet
                demand = self._front.snapshot.ranker.scorer.demand
                snapshot.ranker.scorer.demand = back.snapshot.ranker.scorer.demand = demand
            self._front = _Side(snapshot)
            self._back = back

    @property
    def demand(self) -> Demand:
        """The demand factors the current snapshot ranks with (``Scorer.demand``)."""
        return self.current.ranker.scorer.demand

    def set_demand(self, demand: Demand) -> None:
        """Rank with new demand factors (``Scorer.demand``: schools shown less), applied like a change: to the
        back copy, a swap, then to the old front once its readers have left, so no ranking mixes two sets."""
        with self.writer:
            front = self._front
            if front is None:
                raise RuntimeError("the index is not loaded yet: call Registry.load_index first")
            back = self._back if self._back is not None else _Side(clone_snapshot(front.snapshot))
            self._back = None
            back.snapshot.ranker.scorer.demand = demand  # no reader is on it
            self._front = back
            front.wait_idle()
            front.snapshot.ranker.scorer.demand = demand
            self._back = front

    def apply(
        self, added: Sequence[SchoolProfile] = (), updated: Sequence[SchoolProfile] = (), removed: Sequence[str] = ()
    ) -> None:
        """Apply a committed change to both copies, swapping them in between (raises if an index refuses it)."""
        if not (added or updated or removed):
            return
        with self.writer:
            front = self._front
            if front is None:
                raise RuntimeError("the index is not loaded yet: call Registry.load_index first")
            back = self._back
            if back is None:  # a failed change left one copy: copy it again
                back = _Side(clone_snapshot(front.snapshot))
            # vectorized once (the model runs here only for text not cached), for both copies, before either
            # changes: a failure leaves both as they were
            vectors = front.snapshot.index.vectorize([*added, *updated])
            self._back = None
            apply_change(back.snapshot.index, added, updated, removed, vectors)  # no reader is on it
            back.snapshot.ranker.prepare()  # a refit the change calls for (coarse index) here, not in a read
            self._front = back  # new readers see the change from here on
            front.wait_idle()
            apply_change(front.snapshot.index, added, updated, removed, vectors)
            self._back = front
