"""SQL for the ``batch_jobs`` table (the rest of a job's life is in ``service.batch``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import db


def fail_interrupted(s: Session) -> None:
    """Jobs left queued or running by a stopped process are marked failed."""
    for job in s.scalars(select(db.BatchJob).where(db.BatchJob.status.in_(["queued", "running"]))):
        job.status = "failed"
        job.message = "interrupted: the service stopped before the job finished; start it again"
        job.finished_at = db.utcnow()
