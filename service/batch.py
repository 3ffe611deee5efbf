"""Background batch assignments: a small thread pool, live progress, cancellation, results in the database.

A job matches a snapshot of the index taken when it starts (writes go on meanwhile and do not
disturb it). Progress is kept in memory for polling and written to the database on each stage
change (and at most twice a second), the result as JSON when the job ends.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from matching.batch import Assignment, AssignmentOptions, BatchCancelled, assign, workbook_sheets
from matching.errors import MatchingError
from matching.export import csv_text, excel_bytes
from service import db, store
from service.errors import ConflictError, NotFoundError, RequestError
from service.registry import Registry
from service.store.audit import Who

log = logging.getLogger(__name__)

# share of the progress bar each stage of ``assign`` covers
_STAGES = {"queued": (0.0, 0.0), "snapshot": (0.0, 0.05), "candidates": (0.05, 0.8), "solve": (0.8, 0.9),
           "explain": (0.9, 1.0)}  # fmt: skip


@dataclass
class _Live:
    status: str = "queued"
    stage: str = "queued"
    progress: float = 0.0
    cancel: threading.Event = field(default_factory=threading.Event)
    saved_at: float = 0.0


def result_json(assignment: Assignment) -> dict[str, Any]:
    """The stored result: partnerships and unmatched schools as flat records, diagnostics, summary lines."""
    return json.loads(
        json.dumps(
            {
                "partnerships": json.loads(assignment.to_frame().to_json(orient="records")),
                "unmatched": json.loads(assignment.unmatched_frame().to_json(orient="records")),
                "diagnostics": assignment.diagnostics.as_dict(),
                "summary": assignment.summary(),
            },
            default=lambda o: o.item() if hasattr(o, "item") else str(o),
        )
    )


def result_csv(result: dict[str, Any], table: str) -> str:
    """One table of a stored result as CSV (cells neutralised against spreadsheet formulas)."""
    return csv_text(result.get(table) or [])


def result_xlsx(result: dict[str, Any]) -> bytes:
    """A stored result as an Excel workbook: partnerships, unmatched (with reasons), summary; cells neutralised."""
    sheets = workbook_sheets(
        result.get("partnerships") or [], result.get("unmatched") or [], result.get("diagnostics") or {}
    )
    return excel_bytes(sheets)


class BatchRunner:
    """Starts, tracks and cancels batch assignments."""

    def __init__(self, registry: Registry, workers: int = 1) -> None:
        self.registry = registry
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batch")
        self.live: dict[str, _Live] = {}
        self._lock = threading.Lock()

    def shutdown(self) -> None:
        """Cancel what runs and stop the pool."""
        for state in self.live.values():
            state.cancel.set()
        self.pool.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------ requests
    def start(
        self, cohort: list[str] | None, options: AssignmentOptions, request: dict[str, Any], who: Who | None = None
    ) -> db.BatchJob:
        """Queue a job (options already validated); unknown cohort ids are refused up front. ``who``: the
        audit log records the start in the same transaction."""
        if cohort is not None:
            if not cohort:
                raise RequestError("cohort", "is empty: list school ids, or leave it out for the whole registry")
            with self.registry.holder.read() as snap:
                unknown = [s for s in cohort if s not in snap.index]
            if unknown:
                shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
                raise RequestError("cohort", f"unknown school id(s): {shown}", None)
        job = db.BatchJob(id=uuid.uuid4().hex, status="queued", progress=0.0, message="queued", request=request)
        with self.registry.sessions.begin() as s:
            s.add(job)
            if who is not None:
                store.audit.add(s, who, "batch.start", [job.id])
        self.live[job.id] = _Live()
        self.pool.submit(self._run, job.id, cohort, options)
        return job

    def get(self, job_id: str) -> db.BatchJob:
        """A job, with live progress if it runs."""
        with self.registry.sessions() as s:
            job = s.get(db.BatchJob, job_id)
        if job is None:
            raise NotFoundError(f"unknown batch job id {job_id!r}")
        state = self.live.get(job_id)
        if state is not None and state.status in ("queued", "running"):
            job.status, job.progress, job.message = state.status, state.progress, state.stage
        return job

    def list(self, offset: int = 0, limit: int = 50) -> tuple[list[db.BatchJob], int]:
        """Jobs, newest first."""
        with self.registry.sessions() as s:
            total = int(s.scalar(select(func.count()).select_from(db.BatchJob)) or 0)
            rows = s.scalars(select(db.BatchJob).order_by(db.BatchJob.created_at.desc()).offset(offset).limit(limit))
            return [self.get(j.id) for j in rows], total

    def cancel(self, job_id: str, who: Who | None = None) -> db.BatchJob:
        """Ask a queued or running job to stop (the job may run in another server process); ``who``: the
        audit log records the request."""
        job = self.get(job_id)
        if job.status not in ("queued", "running"):
            raise ConflictError(f"batch job {job_id} is {job.status}: only queued or running jobs can be cancelled")
        if who is not None:
            with self.registry.sessions.begin(feed=False) as s:
                store.audit.add(s, who, "batch.cancel", [job_id])
        state = self.live.get(job_id)
        if state is None:  # another process runs it: it polls this flag
            self._save(job_id, cancel_requested=True, message="cancel requested")
            return self.get(job_id)
        state.cancel.set()
        with self._lock:
            if state.status == "queued":  # not started: it will not start
                state.status = "cancelled"
                self._save(job_id, status="cancelled", message="cancelled before it started", finished=True)
        return self.get(job_id)

    def _cancel_check(self, job_id: str, state: _Live) -> Callable[[], bool]:
        """``should_cancel`` for a job: this process's flag, or the database flag (another process's cancel)."""

        def should_cancel() -> bool:
            if not state.cancel.is_set():
                with self.registry.sessions() as s:
                    if s.scalar(select(db.BatchJob.cancel_requested).where(db.BatchJob.id == job_id)):
                        state.cancel.set()
            return state.cancel.is_set()

        return should_cancel

    def result(self, job_id: str) -> dict[str, Any]:
        """The result of a finished job."""
        job = self.get(job_id)
        if job.status != "done" or job.result is None:
            raise ConflictError(f"batch job {job_id} is {job.status}: the result exists once it is done")
        return job.result

    # ------------------------------------------------------------ the work
    def _save(self, job_id: str, finished: bool = False, **values: Any) -> None:
        with self.registry.sessions.begin() as s:
            job = s.get(db.BatchJob, job_id)
            if job is None:
                return
            for key, value in values.items():
                setattr(job, key, value)
            if finished:
                job.finished_at = db.utcnow()

    def _progress(self, job_id: str, state: _Live, stage: str, done: int, total: int) -> None:
        lo, hi = _STAGES.get(stage, (state.progress, state.progress))
        state.progress = round(lo + (hi - lo) * (done / total if total else 1.0), 4)
        changed, state.stage = stage != state.stage, stage
        now = time.monotonic()
        if changed or now - state.saved_at > 0.5:
            state.saved_at = now
            self._save(job_id, progress=state.progress, message=stage)

    def _run(self, job_id: str, cohort: list[str] | None, options: AssignmentOptions) -> None:
        state = self.live[job_id]
        should_cancel = self._cancel_check(job_id, state)
        with self._lock:
            if state.status != "cancelled" and should_cancel():
                state.status = "cancelled"
                self._save(job_id, status="cancelled", message="cancelled before it started", finished=True)
            if state.status == "cancelled":
                self.live.pop(job_id, None)
                return
            state.status = "running"
        try:
            self._save(job_id, status="running", started_at=db.utcnow(), message="snapshot")
            self._progress(job_id, state, "snapshot", 0, 1)
            with self.registry.holder.read() as snap:
                index = snap.index.copy()
                shown = snap.ranker.scorer.shown  # the popularity prior's counts: the copy has the same rows
            self._progress(job_id, state, "snapshot", 1, 1)
            assignment = assign(
                index,
                self.registry.config,
                cohort,
                options,
                progress_callback=lambda stage, done, total: self._progress(job_id, state, stage, done, total),
                should_cancel=should_cancel,
                shown=shown,
            )
            result = result_json(assignment)
            state.status, state.progress = "done", 1.0
            self._save(job_id, finished=True, status="done", progress=1.0, message="done", result=result)
        except BatchCancelled:
            state.status = "cancelled"
            self._save(job_id, finished=True, status="cancelled", message="cancelled")
        except MatchingError as exc:
            state.status = "failed"
            self._save(job_id, finished=True, status="failed", message=str(exc)[:500])
        except Exception:  # a background job must record its failure, not vanish
            log.exception("batch job %s failed", job_id)
            state.status = "failed"
            self._save(job_id, finished=True, status="failed", message="internal error; it has been logged")
        finally:
            self.live.pop(job_id, None)  # its state is in the database from now on
