"""The registry behind the API: the database (truth) and the in-memory ranking index kept in step with it.

Every write commits to the database first and then updates the index incrementally
(``SchoolIndex.add/update/remove``): no rebuild, no re-encoding of unchanged text (the encoder's disk
cache in the data dir holds every description's embedding). Reads take a shared lock, index updates an
exclusive one, so a ranking never sees a half-applied change; text is encoded before any lock is taken.

The vectorizer's language vocabulary is stored in the database the first time it is fitted, so a
restart rebuilds exactly the same vectors and serves exactly the same suggestions.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import pycountry
from sqlalchemy import Engine, Text, delete, func, or_, select, text, type_coerce
from sqlalchemy.orm import Session
from tqdm.auto import tqdm

from features import vocab
from features.profiles import SchoolProfile, validate_profile
from features.text import CachedEncoder, text_key
from features.vectorizer import SchoolVectorizer
from matching.core.config import RankerConfig
from matching.core.constraints import RULE_MESSAGES, Query, RequestFilters
from matching.core.engine import make_encoder
from matching.core.explain import PairExplanation
from matching.core.index import SchoolColumns, SchoolIndex
from matching.core.ranker import Ranker, Ranking
from matching.errors import DuplicateSchoolError, UnknownSchoolError
from service import db
from service.config import Settings
from service.errors import ConflictError, NotFoundError, RequestError

log = logging.getLogger(__name__)

_CHUNK = 500  # ids per SQL IN (...)


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


_EPHEMERAL: contextvars.ContextVar[dict[str, np.ndarray] | None] = contextvars.ContextVar("ephemeral", default=None)


class ServiceEncoder:
    """A ``CachedEncoder`` that can also encode without storing (for posted profiles: nothing is kept).

    Inside ``ephemeral()``, texts missing from the caches are encoded by the model and remembered only
    for the current request.
    """

    def __init__(self, cached: CachedEncoder) -> None:
        self.cached = cached
        self.name = cached.name
        self.dim = cached.dim

    def __sklearn_clone__(self) -> ServiceEncoder:
        """Shared, not copied, when scikit-learn clones an estimator holding it."""
        return self

    @contextlib.contextmanager
    def ephemeral(self) -> Iterator[None]:
        """Encode without writing to any cache, until the block ends."""
        token = _EPHEMERAL.set({})
        try:
            yield
        finally:
            _EPHEMERAL.reset(token)

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Encode texts (cached ones are looked up)."""
        memo = _EPHEMERAL.get()
        if memo is None:
            return self.cached.encode(texts, progress=progress)
        keys = [text_key(self.name, t) for t in texts]
        found = {k: memo[k] for k in keys if k in memo}
        found.update({k: self.cached._memory[k] for k in keys if k not in found and k in self.cached._memory})
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        if missing and self.cached.cache is not None:
            found.update(self.cached.cache.get_many(missing, self.dim))
        text_of = dict(zip(keys, texts, strict=True))
        todo = [k for k in dict.fromkeys(keys) if k not in found]
        if todo:
            vectors = self.cached.encoder.encode([text_of[k] for k in todo])
            new = {k: vectors[i] for i, k in enumerate(todo)}
            memo.update(new)
            found.update(new)
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)


def default_languages() -> list[str]:
    """The language vocabulary for an empty registry: every country's official and main languages."""
    langs: set[str] = set()
    for country in pycountry.countries:
        langs.update(vocab.country_languages(country.alpha_2))
    return sorted(langs)


def _vocabulary_profile(languages: Sequence[str]) -> SchoolProfile:
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


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class Registry:
    """Schools, partnerships and feedback in the database, and the ranker over the live index."""

    def __init__(self, settings: Settings, engine: Engine, encoder: ServiceEncoder, config: RankerConfig) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions = db.make_sessionmaker(engine)
        self.encoder = encoder
        self.config = config
        self.schema_version = db.SCHEMA_VERSION
        self.index: SchoolIndex
        self.ranker: Ranker
        self.lock = RWLock()
        self._write = threading.Lock()  # one writer at a time: database order == index order
        self.applied_seq = 0  # changes (db.Change) up to here are in the index
        self._own_seqs: set[int] = set()  # change-log rows this process wrote (already in its index)
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None

    # ------------------------------------------------------------ start-up
    @classmethod
    def open(cls, settings: Settings, primary: bool | None = None) -> Registry:
        """Connect, load the encoder and build the index from the database.

        The primary process (the only one, unless ``settings.workers > 1``: then ``serve`` prepares the
        database first) also migrates it, imports the demo registry into an empty one and marks jobs
        interrupted by a stop as failed. With ``sync_interval`` > 0 a thread replays other processes' writes.
        """
        primary = settings.workers == 1 if primary is None else primary
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = db.make_engine(settings.sqlalchemy_url)
        db.migrate(engine)
        encoder = ServiceEncoder(make_encoder(settings.encoder, cache_dir=settings.data_dir))  # type: ignore[arg-type]
        config = RankerConfig.load(settings.ranker_config) if settings.ranker_config else RankerConfig()
        registry = cls(settings, engine, encoder, config)
        demo = None
        if primary and settings.load_demo and registry.count() == 0:
            demo = demo_profiles(settings.demo_schools, settings.demo_seed)
            registry._languages(demo)  # the demo registry's languages become the stored vocabulary
        registry.load_index()
        if demo:
            registry.import_profiles(demo)
        if primary:
            registry.fail_interrupted_jobs()
            registry.prune_changes()
        if settings.sync_interval > 0:
            registry.start_sync(settings.sync_interval)
        return registry

    def close(self) -> None:
        """Stop the sync thread and release the database connections."""
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join(timeout=10)
        self.engine.dispose()

    # ------------------------------------------------------------ other processes' writes
    def start_sync(self, interval: float) -> None:
        """Replay other processes' writes every ``interval`` seconds (a daemon thread)."""

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.sync()
                except Exception:  # the next round tries again; a failing round must not kill the thread
                    log.exception("registry sync failed")

        self._syncer = threading.Thread(target=loop, name="registry-sync", daemon=True)
        self._syncer.start()

    def sync(self) -> int:
        """Bring the index in line with writes logged since the last sync (by any process); returns schools updated.

        Idempotent: each changed school is read as it is now; unchanged profiles are skipped.
        """
        with self.engine.connect() as conn:
            last = conn.execute(select(func.max(db.Change.seq))).scalar() or 0
        if last <= self.applied_seq:
            return 0
        with self._write:
            with self.sessions() as s:
                changes = s.execute(
                    select(db.Change.seq, db.Change.school_id).where(db.Change.seq > self.applied_seq)
                ).all()
                if not changes:
                    return 0
                last = max(seq for seq, _ in changes)
                ids = list(dict.fromkeys(sid for seq, sid in changes if seq not in self._own_seqs))
                self._own_seqs = {seq for seq in self._own_seqs if seq > last}
                if not ids:  # only this process's own writes: already in the index
                    self.applied_seq = last
                    return 0
                current: dict[str, SchoolProfile] = {}
                for chunk in _chunks(ids):
                    for row in s.scalars(select(db.School).where(db.School.school_id.in_(chunk))):
                        current[row.school_id] = row.to_profile()
            added, updated, removed = [], [], []
            with self.lock.read():
                for sid in ids:
                    p = current.get(sid)
                    if p is None:
                        if sid in self.index:
                            removed.append(sid)
                    elif sid not in self.index:
                        added.append(p)
                    elif self.index.profile(sid) != p:
                        updated.append(p)
            self._warm([*added, *updated])
            self._apply(added=added, updated=updated, removed=removed)
            self.applied_seq = last
        return len(added) + len(updated) + len(removed)

    def prune_changes(self, keep_days: float = 2.0) -> None:
        """Forget change-log rows older than ``keep_days`` (every serving process replays far sooner)."""
        cutoff = db.utcnow() - timedelta(days=keep_days)
        with self.sessions.begin() as s:
            s.execute(delete(db.Change).where(db.Change.at < cutoff))

    def count(self) -> int:
        """Schools in the database."""
        with self.sessions() as s:
            return int(s.scalar(select(func.count()).select_from(db.School)) or 0)

    def load_profiles(self) -> list[SchoolProfile]:
        """Every stored profile, in registration order."""
        raw = type_coerce(db.School.profile, Text)  # the stored JSON text: parsed and validated in one pass
        with self.engine.connect() as conn:
            rows = conn.execute(select(raw).order_by(db.School.seq)).scalars()
            return [
                SchoolProfile.model_validate_json(text)
                for text in tqdm(rows, desc="loading", unit="school", disable=None)
            ]

    def _languages(self, profiles: Sequence[SchoolProfile]) -> list[str]:
        with self.sessions.begin() as s:
            row = s.get(db.Meta, "vectorizer_languages")
            if row is not None:
                return list(row.value)
            langs = sorted({lang for p in profiles for lang in p.languages}) or default_languages()
            s.add(db.Meta(key="vectorizer_languages", value=langs))
            return langs

    def load_index(self) -> None:
        """(Re)build the index from the database."""
        with self.engine.connect() as conn:
            applied = conn.execute(select(func.max(db.Change.seq))).scalar() or 0
        profiles = self.load_profiles()
        vectorizer = SchoolVectorizer(encoder=self.encoder, progress=True)
        vectorizer.fit([_vocabulary_profile(self._languages(profiles))])
        index = SchoolIndex(vectorizer, profiles)
        ranker = Ranker(index, self.config)
        with self.lock.write():
            self.index, self.ranker = index, ranker
            self.applied_seq = max(self.applied_seq, applied)
        log.info("registry loaded: %d schools, encoder %s", len(index), self.encoder.name)

    # ------------------------------------------------------------ reads
    def profile(self, school_id: str) -> SchoolProfile:
        """A registered profile (private fields included: callers choose the view)."""
        with self.lock.read():
            return self.index.profile(school_id)

    def list_schools(
        self,
        *,
        country: str | None = None,
        phase: str | None = None,
        theme: str | None = None,
        accepting: bool | None = None,
        q: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[SchoolProfile], int]:
        """A page of schools matching the filters, in registration order, and the total matching."""
        stmt = select(db.School)
        if country:
            code = country.strip().upper()
            if not vocab.is_country(code):
                raise RequestError("country", "not an ISO 3166-1 alpha-2 country code (the UK is GB)", country)
            stmt = stmt.where(db.School.country == code)
        if phase:
            stmt = stmt.where(db.School.phase == phase)
        if theme:
            tag = theme.strip().lower()
            if tag not in vocab.themes():
                raise RequestError("theme", f"unknown theme; valid tags: {', '.join(vocab.themes())}", theme)
            stmt = stmt.where(db.School.themes.contains(f";{tag};", autoescape=True))
        if accepting is not None:
            stmt = stmt.where(db.School.accepting == accepting)
        if q:
            stmt = stmt.where(
                or_(db.School.name.icontains(q, autoescape=True), db.School.school_id.istartswith(q, autoescape=True))
            )
        with self.sessions() as s:
            total = int(s.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
            rows = s.scalars(stmt.order_by(db.School.seq).offset(offset).limit(limit)).all()
            return [row.to_profile() for row in rows], total

    def suggest(
        self,
        school: str | SchoolProfile,
        k: int = 10,
        filters: RequestFilters | None = None,
        diversity: str | None = None,
    ) -> tuple[Ranking, list[SchoolProfile], list[tuple[str, str, int]] | None]:
        """Suggestions, the candidates' profiles and (when nothing is allowed) each rule's passing count."""
        if isinstance(school, SchoolProfile):
            with self.encoder.ephemeral():
                self.index.vectorize([school])  # encode before locking (the vectorizer never changes)
                return self._suggest(school, k, filters, diversity)
        return self._suggest(school, k, filters, diversity)

    def _suggest(
        self, school: str | SchoolProfile, k: int, filters: RequestFilters | None, diversity: str | None
    ) -> tuple[Ranking, list[SchoolProfile], list[tuple[str, str, int]] | None]:
        with self.lock.read():
            ranking = self.ranker.suggest(school, k, filters, diversity)
            cards = [self.index.profile(str(sid)) for sid in ranking.ids]
            counts = self._rule_counts(school, filters) if ranking.n_allowed == 0 else None
        return ranking, cards, counts

    def _rule_counts(self, school: str | SchoolProfile, filters: RequestFilters | None) -> list[tuple[str, str, int]]:
        index = self.index
        if isinstance(school, SchoolProfile):
            row = index.row_of.get(school.school_id, -1)
            query = Query(SchoolColumns.from_profiles([school]), np.array([row], dtype=np.int64))
        else:
            query = Query.registered(index, [index.row(school)])
        cands = index.cols()
        out = []
        for name, rule in self.ranker.constraint_set(filters).rules().items():
            passing = int((np.asarray(rule(query, cands, index))[0] & cands.present).sum())
            out.append((name, RULE_MESSAGES[name], passing))
        return out

    def explain(self, a: str, b: str, filters: RequestFilters | None = None) -> tuple[PairExplanation, SchoolProfile]:
        """Why ``b`` scores as it does for ``a`` (or what blocks the pair), and ``b``'s profile."""
        with self.lock.read():
            return self.ranker.explain(a, b, filters), self.index.profile(b)

    # ------------------------------------------------------------ writes
    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Session]:
        """A write transaction whose change-log rows are remembered as this process's own (``sync`` skips them)."""
        with self.sessions.begin() as s:
            yield s
        self._own_seqs.update(c.seq for c in s.info.get("changes", ()))

    def _warm(self, profiles: Sequence[SchoolProfile]) -> None:
        """Encode (and cache) new texts before any lock is taken."""
        if profiles:
            self.index.vectorize(profiles)

    def _apply(
        self, added: Sequence[SchoolProfile] = (), updated: Sequence[SchoolProfile] = (), removed: Sequence[str] = ()
    ) -> None:
        """Bring the index in line with a committed change; on failure rebuild it from the database."""
        try:
            with self.lock.write():
                for school_id in removed:
                    self.index.remove(school_id)
                if added:
                    self.index.add(added)
                for p in updated:
                    self.index.update(p)
        except Exception:
            log.exception("index update failed after a commit; rebuilding the index from the database")
            self.load_index()

    def _recorded_partners(self, s: Session, school_ids: Sequence[str]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {sid: set() for sid in school_ids}
        for chunk in _chunks(list(school_ids)):
            rows = s.scalars(
                select(db.Partnership).where(
                    db.Partnership.ended_at.is_(None),
                    or_(db.Partnership.school_a.in_(chunk), db.Partnership.school_b.in_(chunk)),
                )
            )
            for p in rows:
                if p.school_a in out:
                    out[p.school_a].add(p.school_b)
                if p.school_b in out:
                    out[p.school_b].add(p.school_a)
        return out

    @staticmethod
    def _with_partners(profile: SchoolProfile, partners: set[str]) -> SchoolProfile:
        missing = [x for x in sorted(partners) if x not in profile.current_partners]
        if not missing:
            return profile
        return validate_profile({**profile.model_dump(), "current_partners": [*profile.current_partners, *missing]})

    def import_profiles(
        self, profiles: Sequence[SchoolProfile], on_conflict: str = "error"
    ) -> tuple[list[str], list[str]]:
        """Add schools (all or nothing); with ``on_conflict="update"`` existing ids are replaced.

        Returns the created and the updated ids. Recorded partnerships stay in ``current_partners``.
        """
        profiles = list(profiles)
        seen: dict[str, int] = {}
        for row, p in enumerate(profiles, start=1):
            if p.school_id in seen:
                raise ConflictError(
                    f"school_id {p.school_id!r} appears twice",
                    [("school_id", f"duplicate of row {seen[p.school_id]}", p.school_id, row, p.school_id)],
                )
            seen[p.school_id] = row
        self._warm(profiles)
        with self._write:
            with self._transaction() as s:
                existing: dict[str, db.School] = {}
                for chunk in _chunks(list(seen)):
                    existing.update(
                        {r.school_id: r for r in s.scalars(select(db.School).where(db.School.school_id.in_(chunk)))}
                    )
                if existing and on_conflict != "update":
                    problems = [
                        ("school_id", "already registered", p.school_id, row, p.school_id)
                        for row, p in enumerate(profiles, start=1)
                        if p.school_id in existing
                    ]
                    raise ConflictError(
                        f"{len(problems)} school id(s) already registered; nothing was imported", problems
                    )
                partners = self._recorded_partners(s, list(existing))
                created, updated = [], []
                for p in profiles:
                    row = existing.get(p.school_id)
                    if row is None:
                        row = db.School()
                        row.set_profile(p)
                        s.add(row)
                        created.append(p)
                    else:
                        p = self._with_partners(p, partners[p.school_id])
                        row.set_profile(p)
                        updated.append(p)
            self._apply(added=created, updated=updated)
        return [p.school_id for p in created], [p.school_id for p in updated]

    def create(self, profile: SchoolProfile) -> SchoolProfile:
        """Register one new school (409 if the id exists)."""
        try:
            self.import_profiles([profile])
        except ConflictError:
            raise DuplicateSchoolError(profile.school_id) from None
        return profile

    def replace(self, profile: SchoolProfile) -> SchoolProfile:
        """Replace a registered school's profile (recorded partnerships are kept)."""
        self._warm([profile])
        with self._write:
            return self._replace_locked(profile)

    def _replace_locked(self, profile: SchoolProfile) -> SchoolProfile:
        with self._transaction() as s:
            row = s.scalar(select(db.School).where(db.School.school_id == profile.school_id))
            if row is None:
                raise UnknownSchoolError(profile.school_id)
            profile = self._with_partners(profile, self._recorded_partners(s, [profile.school_id])[profile.school_id])
            row.set_profile(profile)
        self._apply(updated=[profile])
        return profile

    def patch(self, school_id: str, changes: dict[str, Any]) -> SchoolProfile:
        """Change some fields of a registered school (read, merge and write under the writer lock: no lost update)."""
        with self._write:
            with self.sessions() as s:
                row = s.scalar(select(db.School).where(db.School.school_id == school_id))
                if row is None:
                    raise UnknownSchoolError(school_id)
                current = row.to_profile()
            data = {**current.model_dump(), **changes, "school_id": school_id}
            if (
                "country" in changes
                and "timezone" not in changes
                and current.timezone == vocab.country_timezone(current.country)
            ):
                data.pop("timezone")  # it was the country's default: derive it again for the new country
            profile = validate_profile(data)
            self._warm([profile])
            return self._replace_locked(profile)

    def delete(self, school_id: str) -> None:
        """Remove a school: its recorded partnerships end and its partners get the capacity back."""
        with self._write:
            with self.lock.read():
                if school_id not in self.index:
                    raise UnknownSchoolError(school_id)
                listing = sorted(self.index.columns.ids[r] for r in self.index.partner_of.get(school_id, ()))
            changed = []
            with self._transaction() as s:
                row = s.scalar(select(db.School).where(db.School.school_id == school_id))
                if row is None:
                    raise UnknownSchoolError(school_id)
                now = db.utcnow()
                for p in s.scalars(
                    select(db.Partnership).where(
                        db.Partnership.ended_at.is_(None),
                        or_(db.Partnership.school_a == school_id, db.Partnership.school_b == school_id),
                    )
                ):
                    p.ended_at = now
                others = {r.school_id: r for r in s.scalars(select(db.School).where(db.School.school_id.in_(listing)))}
                for other_id in listing:
                    if (other := others.get(other_id)) is None:
                        continue
                    prof = other.to_profile()
                    prof = validate_profile(
                        {**prof.model_dump(), "current_partners": [x for x in prof.current_partners if x != school_id]}
                    )
                    other.set_profile(prof)
                    changed.append(prof)
                s.delete(row)
            self._apply(updated=changed, removed=[school_id])

    # ------------------------------------------------------------ partnerships
    def record_partnership(self, a: str, b: str, note: str | None = None) -> db.Partnership:
        """Record an agreed partnership: both schools list each other and each has one place less."""
        if a == b:
            raise RequestError("school_b", "a school cannot partner with itself", b)
        with self._write:
            with self._transaction() as s:
                rows = {r.school_id: r for r in s.scalars(select(db.School).where(db.School.school_id.in_([a, b])))}
                for field, sid in (("school_a", a), ("school_b", b)):
                    if sid not in rows:
                        raise NotFoundError(f"{field}: unknown school_id {sid!r}: it is not in the registry")
                pa, pb = rows[a].to_profile(), rows[b].to_profile()
                if b in pa.current_partners or a in pb.current_partners:
                    raise ConflictError(f"{a!r} and {b!r} are already partners")
                for p in (pa, pb):
                    if p.free_capacity <= 0:
                        raise ConflictError(
                            f"{p.school_id!r} has no free capacity (capacity {p.capacity}, "
                            f"{len(p.current_partners)} partner(s)); raise its capacity or end a partnership first"
                        )
                new_a = validate_profile({**pa.model_dump(), "current_partners": [*pa.current_partners, b]})
                new_b = validate_profile({**pb.model_dump(), "current_partners": [*pb.current_partners, a]})
                rows[a].set_profile(new_a)
                rows[b].set_profile(new_b)
                partnership = db.Partnership(school_a=a, school_b=b, note=note, started_at=db.utcnow())
                s.add(partnership)
            self._apply(updated=[new_a, new_b])
        return partnership

    def end_partnership(self, partnership_id: int) -> db.Partnership:
        """End a partnership: both schools drop each other and get the capacity back."""
        with self._write:
            changed = []
            with self._transaction() as s:
                partnership = s.get(db.Partnership, partnership_id)
                if partnership is None:
                    raise NotFoundError(f"unknown partnership id {partnership_id}")
                if partnership.ended_at is not None:
                    raise ConflictError(f"partnership {partnership_id} already ended")
                partnership.ended_at = db.utcnow()
                pair = {partnership.school_a: partnership.school_b, partnership.school_b: partnership.school_a}
                for row in s.scalars(select(db.School).where(db.School.school_id.in_(list(pair)))):
                    prof = row.to_profile()
                    other = pair[row.school_id]
                    if other in prof.current_partners:
                        prof = validate_profile(
                            {**prof.model_dump(), "current_partners": [x for x in prof.current_partners if x != other]}
                        )
                        row.set_profile(prof)
                        changed.append(prof)
            self._apply(updated=changed)
        return partnership

    def partnerships(
        self, school_id: str | None = None, active: bool | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[db.Partnership], int]:
        """Recorded partnerships, newest first."""
        stmt = select(db.Partnership)
        if school_id:
            stmt = stmt.where(or_(db.Partnership.school_a == school_id, db.Partnership.school_b == school_id))
        if active is not None:
            stmt = stmt.where(db.Partnership.ended_at.is_(None) if active else db.Partnership.ended_at.is_not(None))
        with self.sessions() as s:
            total = int(s.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
            rows = s.scalars(stmt.order_by(db.Partnership.id.desc()).offset(offset).limit(limit)).all()
            return list(rows), total

    def partnership(self, partnership_id: int) -> db.Partnership:
        """One recorded partnership."""
        with self.sessions() as s:
            row = s.get(db.Partnership, partnership_id)
            if row is None:
                raise NotFoundError(f"unknown partnership id {partnership_id}")
            return row

    # ------------------------------------------------------------ feedback
    def add_feedback(self, school_id: str, candidate_id: str, decision: str, comment: str | None) -> db.Feedback:
        """Store a school's decision on a candidate, with the pair's score now."""
        with self.lock.read():
            for field, sid in (("school_id", school_id), ("candidate_id", candidate_id)):
                if sid not in self.index:
                    raise NotFoundError(f"{field}: unknown school_id {sid!r}: it is not in the registry")
            if school_id == candidate_id:
                raise RequestError("candidate_id", "a school cannot give feedback on itself", candidate_id)
            score = self.ranker.explain(school_id, candidate_id).score
        with self.sessions.begin() as s:
            row = db.Feedback(
                school_id=school_id,
                candidate_id=candidate_id,
                decision=decision,
                comment=comment,
                score=float(score),
                created_at=db.utcnow(),
            )
            s.add(row)
        return row

    def feedback(
        self, school_id: str | None = None, candidate_id: str | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[db.Feedback], int]:
        """Stored feedback, newest first."""
        stmt = select(db.Feedback)
        if school_id:
            stmt = stmt.where(db.Feedback.school_id == school_id)
        if candidate_id:
            stmt = stmt.where(db.Feedback.candidate_id == candidate_id)
        with self.sessions() as s:
            total = int(s.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
            rows = s.scalars(stmt.order_by(db.Feedback.id.desc()).offset(offset).limit(limit)).all()
            return list(rows), total

    # ------------------------------------------------------------ batch jobs (state only; see service.batch)
    def fail_interrupted_jobs(self) -> None:
        """Jobs left queued or running by a stopped process are marked failed."""
        with self.sessions.begin() as s:
            for job in s.scalars(select(db.BatchJob).where(db.BatchJob.status.in_(["queued", "running"]))):
                job.status = "failed"
                job.message = "interrupted: the service stopped before the job finished; start it again"
                job.finished_at = db.utcnow()

    # ------------------------------------------------------------ health
    def ping(self) -> None:
        """Raise if the database does not answer."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))


def demo_profiles(n: int, seed: int = 0) -> list[SchoolProfile]:
    """The demo registry (``matching.demo.generator``)."""
    from matching.demo.generator import generate_registry

    return generate_registry(n, seed=seed, progress=True)
