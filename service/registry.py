"""The registry behind the API: a thin facade over the database (truth) and the in-memory index (a cache of it).

The parts: ``service.store`` (the SQL, one module per table, and the unit of work), ``service.index_holder``
(the current index and ranker: lock-free snapshots), ``service.sync`` (the change feed every process applies)
and ``service.encoder`` (the cached text encoder).

Every write decision is taken by the database, in one write transaction holding the right locks
(``store.Sessions.begin``): existence, free places, one active partnership per pair, the partners of a
deleted school, profile versions (``If-Match``). No write decision reads the in-memory index. After the
commit, the writer's own index applies the change feed up to its write before it answers
(read-your-writes); other processes apply it within ``sync_interval``. Text is encoded before the
transaction starts, so no lock is held during a model call.

The vectorizer's language vocabulary is stored in the database the first time it is fitted, so a
restart rebuilds exactly the same vectors and serves exactly the same suggestions.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from features.errors import ProfileValidationError
from features.langid import with_description_language
from features.profiles import SchoolProfile
from matching.core.config import RankerConfig
from matching.core.constraints import RequestFilters
from matching.core.engine import make_encoder
from matching.core.explain import Diagnosis
from matching.core.index import SchoolIndex
from matching.core.ranker import Ranker
from matching.errors import DuplicateSchoolError, UnknownSchoolError
from service import db, store
from service.config import Settings
from service.demand import DemandSync
from service.encoder import ServiceEncoder
from service.errors import ConflictError, NotFoundError, RequestError
from service.index_holder import IndexHolder, RWLock, build_snapshot, default_languages
from service.presenter import Explained, Suggestions
from service.store.audit import Who
from service.store.schools import Versioned, check_if_match, merged
from service.sync import ChangeSync

log = logging.getLogger(__name__)


class Registry:
    """Schools, partnerships and feedback in the database, and the ranker over the live index."""

    def __init__(self, settings: Settings, engine: Engine, encoder: ServiceEncoder, config: RankerConfig) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions = store.Sessions(engine)
        self.encoder = encoder
        self.config = config
        self.schema_version = db.SCHEMA_VERSION
        self.holder = IndexHolder()
        self.changes = ChangeSync(self.sessions, self.holder, encoder, self._apply)
        self.demand = DemandSync(self.sessions, self.holder, settings.exposure_cap)  # the exposure cap (issue 15)
        self.outbox_wake: Callable[[], None] | None = None  # set when this process runs a mail sender (issue 15)
        self.feedback_hooks: list[Callable[[Session, db.Feedback], None]] = []  # run in add_feedback's transaction

    # ------------------------------------------------------------ the current snapshot
    @property
    def lock(self) -> RWLock:
        """The lock batch jobs take their copy of the index under (reads use ``holder.read()``, lock-free)."""
        return self.holder.lock

    @property
    def index(self) -> SchoolIndex:
        """The current index."""
        return self.holder.current.index

    @property
    def ranker(self) -> Ranker:
        """The ranker over the current index."""
        return self.holder.current.ranker

    @property
    def applied_seq(self) -> int:
        """Changes (``db.Change``) up to this sequence number are in the index."""
        return self.changes.applied_seq

    # ------------------------------------------------------------ start-up
    @classmethod
    def open(cls, settings: Settings, primary: bool | None = None) -> Registry:
        """Connect, load the encoder and build the index from the database.

        The primary process (the only one, unless ``settings.workers > 1``: then ``serve`` prepares the
        database first) also migrates it, imports the demo registry into an empty one and marks jobs
        interrupted by a stop as failed. With ``sync_interval`` > 0 a thread applies other processes' writes.
        """
        primary = settings.workers == 1 if primary is None else primary
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = db.make_engine(settings.sqlalchemy_url)
        db.migrate(engine)
        cached = make_encoder(settings.encoder, cache_dir=settings.data_dir, reencode=settings.reencode)
        encoder = ServiceEncoder(cached, threads=settings.blas_threads)  # type: ignore[arg-type]
        config = RankerConfig.load(settings.ranker_config) if settings.ranker_config else RankerConfig()
        registry = cls(settings, engine, encoder, config)
        demo = None
        if primary and settings.load_demo and registry.count() == 0:
            from matching.demo.generator import generate_registry  # the demo's data only when it is loaded

            demo = generate_registry(settings.demo_schools, seed=settings.demo_seed, progress=True)
            registry._languages(demo)  # the demo registry's languages become the stored vocabulary
        registry.load_index()
        if demo:
            registry.import_profiles(demo)
        if primary:
            registry.fail_interrupted_jobs()
            registry.changes.prune()
        if settings.sync_interval > 0:
            registry.changes.start(settings.sync_interval)
            registry.demand.start(settings.sync_interval)  # other processes' requests: within the same bound
        return registry

    def close(self) -> None:
        """Stop the sync thread and release the database connections."""
        self.changes.stop()
        self.demand.stop()
        self.engine.dispose()

    def sync(self) -> int:
        """Apply other processes' writes logged since the last sync; returns the schools changed."""
        return self.changes.sync()

    def count(self) -> int:
        """Schools in the database."""
        with self.sessions.read() as s:
            return store.schools.count(s)

    def load_profiles(self) -> list[SchoolProfile]:
        """Every stored profile, in registration order."""
        with self.engine.connect() as conn:
            return store.schools.load_profiles(conn)

    def _languages(self, profiles: Sequence[SchoolProfile]) -> list[str]:
        with self.sessions.begin() as s:
            return store.meta.languages(
                s, lambda: sorted({lang for p in profiles for lang in p.languages}) or default_languages()
            )

    def load_index(self) -> None:
        """(Re)build the index from the database and swap it in."""
        with self.engine.connect() as conn:
            applied = store.changes.last_seq(conn)
        profiles = self.load_profiles()
        snapshot = build_snapshot(profiles, self._languages(profiles), self.encoder, self.config)
        self.holder.swap(snapshot)
        self.changes.applied_seq = max(self.changes.applied_seq, applied)
        self.demand.refresh()
        log.info("registry loaded: %d schools, encoder %s", len(snapshot.index), self.encoder.name)

    # ------------------------------------------------------------ reads
    def profile(self, school_id: str) -> SchoolProfile:
        """A registered profile from the current snapshot (private fields included: callers choose the view)."""
        with self.holder.read() as snap:
            return snap.index.profile(school_id)

    def school(self, school_id: str) -> Versioned:
        """A registered profile and its version, read from the database (404 if unknown)."""
        with self.sessions.read() as s:
            row = store.schools.row(s, school_id)
            if row is None:
                raise UnknownSchoolError(school_id)
            return Versioned(row.to_profile(), row.version)

    def list_schools(self, **filters: Any) -> tuple[list[SchoolProfile], int]:
        """A page of schools matching the filters (``store.schools.page``), and the total matching."""
        with self.sessions.read() as s:
            return store.schools.page(s, **filters)

    def suggest(
        self,
        school: str | SchoolProfile,
        k: int = 10,
        filters: RequestFilters | None = None,
        diversity: str | None = None,
        exclude: Iterable[str] = (),
    ) -> Suggestions:
        """Suggestions for a registered school id or a posted profile (its text encoded for this request only)."""
        if isinstance(school, SchoolProfile):
            with self.encoder.ephemeral():
                self.encoder.warm([school])  # the model call happens before the snapshot is taken
                return self._suggest(school, k, filters, diversity, exclude)
        return self._suggest(school, k, filters, diversity, exclude)

    def _suggest(
        self,
        school: str | SchoolProfile,
        k: int,
        filters: RequestFilters | None,
        diversity: str | None,
        exclude: Iterable[str],
    ) -> Suggestions:
        exclude = list(exclude)
        with self.holder.read() as snap:
            ranking = snap.ranker.suggest(school, k, filters, diversity, exclude=exclude)
            diagnosis = snap.ranker.diagnose(school, filters, exclude=exclude) if ranking.n_allowed == 0 else None
        return Suggestions(ranking, diagnosis)

    def diagnose(
        self, school: str | SchoolProfile, filters: RequestFilters | None = None, exclude: Iterable[str] = ()
    ) -> Diagnosis:
        """Why candidates are ruled out for a school (per-rule and per-filter counts), on the current snapshot."""
        with self.holder.read() as snap:
            return snap.ranker.diagnose(school, filters, exclude=list(exclude))

    def explain(self, a: str, b: str, filters: RequestFilters | None = None, demand: bool = True) -> Explained:
        """Why ``b`` scores as it does for ``a`` (or what blocks the pair), and ``b``'s profile. ``demand=False``:
        without the exposure cap's factor on ``b`` (``service.demand``), e.g. an inbox ranked by fit."""
        with self.holder.read() as snap:
            return Explained(snap.ranker.explain(a, b, filters, demand), snap.index.profile(b))

    # ------------------------------------------------------------ writes
    def _apply(
        self, added: Sequence[SchoolProfile] = (), updated: Sequence[SchoolProfile] = (), removed: Sequence[str] = ()
    ) -> None:
        """Bring the index in line with a committed change; on failure rebuild it from the database."""
        try:
            self.holder.apply(added, updated, removed)
        except Exception:
            log.exception("index update failed after a commit; rebuilding the index from the database")
            self.load_index()

    def _applied(self, written: dict[int, str], profiles: dict[str, SchoolProfile | None]) -> None:
        """Read-your-writes: return once this process's index has applied the change feed up to (at least)
        the rows a committed transaction wrote (``written``: seq -> school id; ``profiles``: each school's
        committed profile, None if deleted, so the feed need not read them back)."""
        try:
            self.changes.catch_up({seq: profiles[sid] for seq, sid in written.items() if sid in profiles})
        except Exception:  # committed: never answer "nothing changed"; the sync thread applies it later
            log.exception("applying a committed write to the index failed; the next sync applies it")

    def import_profiles(
        self,
        profiles: Sequence[SchoolProfile],
        on_conflict: str = "error",
        *,
        who: Who | None = None,
        action: str = "school.import",
    ) -> tuple[list[str], list[str]]:
        """Add schools (all or nothing); with ``on_conflict="update"`` existing ids are replaced.

        Returns the created and the updated ids. Recorded partnerships stay in ``current_partners``.
        Every write method takes ``who``: the audit log records the write in its own transaction
        (None: no audit row, for the service's own writes such as the demo import).
        """
        profiles = with_description_language(profiles)
        seen: dict[str, int] = {}
        for row, p in enumerate(profiles, start=1):
            if p.school_id in seen:
                raise ConflictError(
                    f"school_id {p.school_id!r} appears twice",
                    [("school_id", f"duplicate of row {seen[p.school_id]}", p.school_id, row, p.school_id)],
                )
            seen[p.school_id] = row
        self.encoder.warm(profiles)  # the model runs before the transaction: no lock is held meanwhile
        written: dict[int, str] = {}
        with self.sessions.begin(written) as s:
            existing = store.schools.rows(s, list(seen), lock=True)
            if existing and on_conflict != "update":
                problems = [
                    ("school_id", "already registered", p.school_id, row, p.school_id)
                    for row, p in enumerate(profiles, start=1)
                    if p.school_id in existing
                ]
                raise ConflictError(f"{len(problems)} school id(s) already registered; nothing was imported", problems)
            partners = store.partnerships.active_partners(s, list(existing))
            created, updated = [], []
            for p in profiles:
                row = existing.get(p.school_id)
                if row is None:
                    store.schools.add(s, p)
                    created.append(p)
                else:
                    p = store.schools.with_partners(p, partners[p.school_id])
                    store.schools.write(row, p)
                    updated.append(p)
            if who is not None:
                store.audit.add(s, who, action, seen)
        self._applied(written, {p.school_id: p for p in (*created, *updated)})
        return [p.school_id for p in created], [p.school_id for p in updated]

    def create(self, profile: SchoolProfile, *, who: Who | None = None) -> Versioned:
        """Register one new school (409 if the id exists); returns it with its version (1)."""
        try:
            self.import_profiles([profile], who=who, action="school.create")
        except ConflictError:
            raise DuplicateSchoolError(profile.school_id) from None
        return Versioned(profile, 1)

    def replace(self, profile: SchoolProfile, if_match: str | None = None, *, who: Who | None = None) -> Versioned:
        """Replace a registered school's profile (recorded partnerships are kept); ``if_match``: the
        ``If-Match`` header, checked against the stored version inside the transaction (412 if stale)."""
        profile = with_description_language([profile])[0]
        self.encoder.warm([profile])
        written: dict[int, str] = {}
        with self.sessions.begin(written) as s:
            row = self._locked_row(s, profile.school_id, if_match)
            recorded = store.partnerships.active_partners(s, [profile.school_id])[profile.school_id]
            profile = store.schools.with_partners(profile, recorded)
            store.schools.write(row, profile)
            version = row.version
            if who is not None:
                store.audit.add(s, who, "school.replace", [profile.school_id])
        self._applied(written, {profile.school_id: profile})
        return Versioned(profile, version)

    def patch(
        self, school_id: str, changes: dict[str, Any], if_match: str | None = None, *, who: Who | None = None
    ) -> Versioned:
        """Change some fields of a registered school. The merge onto the stored profile happens inside the
        write transaction, so a concurrent change to another field is never overwritten. A new description
        without ``description_language`` has its language detected again."""
        if "description" in changes and "description_language" not in changes:
            changes = {**changes, "description_language": None}
        if "description" in changes:  # encode the new text before any lock is taken (on this process's snapshot)
            with contextlib.suppress(ProfileValidationError, UnknownSchoolError):
                self.encoder.warm([merged(self.profile(school_id), changes)])
        written: dict[int, str] = {}
        with self.sessions.begin(written) as s:
            row = self._locked_row(s, school_id, if_match)
            profile = with_description_language([merged(row.to_profile(), changes)])[0]
            self.encoder.warm([profile])  # from the cache unless a concurrent change made the text differ
            store.schools.write(row, profile)
            version = row.version
            if who is not None:
                store.audit.add(s, who, "school.patch", [school_id])
        self._applied(written, {school_id: profile})
        return Versioned(profile, version)

    def _locked_row(self, s: Session, school_id: str, if_match: str | None) -> db.School:
        row = store.schools.row(s, school_id, lock=True)
        if row is None:
            raise UnknownSchoolError(school_id)
        check_if_match(if_match, school_id, row.version)
        return row

    def delete(self, school_id: str, *, who: Who | None = None) -> None:
        """Remove a school: its recorded partnerships end, and every school naming it as a current partner
        (read from the database, in the same transaction) drops it and gets the place back."""
        written: dict[int, str] = {}
        changed: dict[str, SchoolProfile | None] = {}
        with self.sessions.begin(written) as s:
            row = store.schools.row(s, school_id, lock=True)
            if row is None:
                raise UnknownSchoolError(school_id)
            store.partnerships.end_all_of(s, school_id)
            for other_id, other in store.schools.listing(s, school_id).items():
                prof = store.schools.without_partner(other.to_profile(), school_id)
                store.schools.write(other, prof)
                changed[other_id] = prof
            s.delete(row)
            revoked = store.keys.revoke_for_school(s, school_id, who.subject if who else "school.delete", db.utcnow())
            store.auth.delete_sessions_of(s, school_id)
            if who is not None:
                store.audit.add(s, who, "school.delete", [school_id])
                if revoked:
                    store.audit.add(s, who, "key.revoke", revoked)
        changed[school_id] = None
        self._applied(written, changed)

    # ------------------------------------------------------------ partnerships
    def record_partnership(self, a: str, b: str, note: str | None = None, *, who: Who | None = None) -> db.Partnership:
        """Record an agreed partnership: both schools list each other and each has one place less.

        Decided in one write transaction on the locked rows: a place is taken on both sides only if both
        have one; a pair has at most one active partnership (also a unique index)."""
        if a == b:
            raise RequestError("school_b", "a school cannot partner with itself", b)
        written: dict[int, str] = {}
        with self.sessions.begin(written) as s:
            rows = store.schools.rows(s, [a, b], lock=True)
            for field, sid in (("school_a", a), ("school_b", b)):
                if sid not in rows:
                    raise NotFoundError(f"{field}: unknown school_id {sid!r}: it is not in the registry")
            pa, pb = rows[a].to_profile(), rows[b].to_profile()
            if b in pa.current_partners or a in pb.current_partners or store.partnerships.active_between(s, a, b):
                raise ConflictError(f"{a!r} and {b!r} are already partners")
            for p in (pa, pb):
                if p.free_capacity <= 0:
                    raise ConflictError(
                        f"{p.school_id!r} has no free capacity (capacity {p.capacity}, "
                        f"{len(p.current_partners)} partner(s)); raise its capacity or end a partnership first"
                    )
            new_a = store.schools.with_partners(pa, {b})
            new_b = store.schools.with_partners(pb, {a})
            store.schools.write(rows[a], new_a)
            store.schools.write(rows[b], new_b)
            partnership = store.partnerships.add(s, a, b, note)
            if who is not None:
                s.flush()  # the new row's id
                store.audit.add(s, who, "partnership.record", [partnership.id, a, b])
        self._applied(written, {a: new_a, b: new_b})
        return partnership

    def end_partnership(self, partnership_id: int, *, who: Who | None = None) -> db.Partnership:
        """End a partnership: both schools drop each other and get the capacity back."""
        written: dict[int, str] = {}
        changed: dict[str, SchoolProfile | None] = {}
        with self.sessions.begin(written) as s:
            partnership = store.partnerships.get(s, partnership_id, lock=True)
            if partnership.ended_at is not None:
                raise ConflictError(f"partnership {partnership_id} already ended")
            partnership.ended_at = db.utcnow()
            pair = {partnership.school_a: partnership.school_b, partnership.school_b: partnership.school_a}
            for sid, row in store.schools.rows(s, list(pair), lock=True).items():
                prof = row.to_profile()
                if pair[sid] in prof.current_partners:
                    prof = store.schools.without_partner(prof, pair[sid])
                    store.schools.write(row, prof)
                    changed[sid] = prof
            if who is not None:
                store.audit.add(s, who, "partnership.end", [partnership_id, *pair])
        self._applied(written, changed)
        return partnership

    def partnerships(
        self, school_id: str | None = None, active: bool | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[db.Partnership], int]:
        """Recorded partnerships, newest first."""
        with self.sessions.read() as s:
            return store.partnerships.page(s, school_id, active, offset, limit)

    def partnership(self, partnership_id: int) -> db.Partnership:
        """One recorded partnership."""
        with self.sessions.read() as s:
            return store.partnerships.get(s, partnership_id)

    # ------------------------------------------------------------ feedback
    def add_feedback(
        self, school_id: str, candidate_id: str, decision: str, comment: str | None, *, who: Who | None = None
    ) -> db.Feedback:
        """Store a school's decision on a candidate, with the pair's score now."""
        if school_id == candidate_id:
            raise RequestError("candidate_id", "a school cannot give feedback on itself", candidate_id)
        with self.sessions.begin() as s:
            found = store.schools.rows(s, [school_id, candidate_id], lock=True)
            for field, sid in (("school_id", school_id), ("candidate_id", candidate_id)):
                if sid not in found:
                    raise NotFoundError(f"{field}: unknown school_id {sid!r}: it is not in the registry")
            row = store.feedback.add(
                s, school_id, candidate_id, decision, comment, self._score(school_id, candidate_id)
            )
            if who is not None:
                s.flush()  # the new row's id
                store.audit.add(s, who, f"feedback.{decision}", [school_id, candidate_id, f"feedback:{row.id}"])
            for hook in self.feedback_hooks:
                hook(s, row)
            return row

    def _score(self, a: str, b: str) -> float:
        """The pair's score now (the index first catches up with the feed if it does not hold both yet)."""
        with self.holder.read() as snap:
            if a in snap.index and b in snap.index:
                return snap.ranker.explain(a, b).score
        self.changes.catch_up()
        with self.holder.read() as snap:
            return snap.ranker.explain(a, b).score

    def feedback(
        self, school_id: str | None = None, candidate_id: str | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[db.Feedback], int]:
        """Stored feedback, newest first."""
        with self.sessions.read() as s:
            return store.feedback.page(s, school_id, candidate_id, offset, limit)

    def requests_changed(self) -> None:
        """Partnership requests were created or answered, withdrawn or expired: re-read the open-request counts
        now (the exposure cap, ``service.demand``), so this process's next lists use them."""
        try:
            self.demand.refresh()
        except Exception:  # committed: the periodic refresh (or the next change) applies it
            log.exception("refreshing the exposure cap's counts failed; the next refresh applies them")

    def wake_outbox(self) -> None:
        """Tell this process's mail sender (if it runs one) that a commit queued mail (issue 15)."""
        if self.outbox_wake is not None:
            self.outbox_wake()

    # ------------------------------------------------------------ batch jobs (state only; see service.batch)
    def fail_interrupted_jobs(self) -> None:
        """Jobs left queued or running by a stopped process are marked failed."""
        with self.sessions.begin() as s:
            store.jobs.fail_interrupted(s)

    # ------------------------------------------------------------ health
    def ping(self) -> None:
        """Raise if the database does not answer."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
