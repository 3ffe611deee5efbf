"""The in-memory index holder: the current snapshot (index and ranker) that every read ranks against.

A read takes the current ``Snapshot`` with ``holder.read()`` and uses only that reference; a writer
either swaps a new snapshot in (``swap``: a rebuild) or applies a committed change to the current one
(``apply``: ``SchoolIndex.add/update/remove``, in place). Because ``apply`` changes the index in place,
reads hold a shared lock and ``apply`` the exclusive one, so a ranking never sees a half-applied change.
``writer`` serialises the processes' own writers, so the index applies changes in the database's order.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pycountry

from features import vocab
from features.profiles import SchoolProfile, validate_profile
from features.vectorizer import SchoolVectorizer
from matching.core.config import RankerConfig
from matching.core.index import SchoolIndex
from matching.core.ranker import Ranker
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
    return Snapshot(index, Ranker(index, config))


class IndexHolder:
    """Holds the current snapshot; see the module docstring for the locking."""

    def __init__(self) -> None:
        self.lock = RWLock()
        self.writer = threading.Lock()  # one writer at a time: database order == index order
        self._current: Snapshot | None = None

    @property
    def current(self) -> Snapshot:
        """The current snapshot (hold ``read()`` while ranking with it)."""
        if self._current is None:
            raise RuntimeError("the index is not loaded yet: call Registry.load_index first")
        return self._current

    @contextlib.contextmanager
    def read(self) -> Iterator[Snapshot]:
        """The current snapshot, not changed until the block ends."""
        with self.lock.read():
            yield self.current

    def swap(self, snapshot: Snapshot) -> None:
        """Make ``snapshot`` the current one (reads started before keep the old one)."""
        with self.lock.write():
            self._current = snapshot

    def apply(
        self, added: Sequence[SchoolProfile] = (), updated: Sequence[SchoolProfile] = (), removed: Sequence[str] = ()
    ) -> None:
        """Apply a committed change to the current index (raises if the index refuses it)."""
        with self.lock.write():
            index = self.current.index
            for school_id in removed:
                index.remove(school_id)
            if added:
                index.add(added)
            for p in updated:
                index.update(p)
