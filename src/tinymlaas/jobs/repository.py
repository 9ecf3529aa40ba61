"""Every query of the jobs domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tinymlaas.db.base import utcnow
from tinymlaas.models import Job, JobEvent, User


def get_owned(session: Session, owner_id: int, job_id: int) -> Job | None:
    return session.scalar(select(Job).where(Job.id == job_id, Job.owner_id == owner_id))


def list_owned(
    session: Session, owner_id: int, status: str | None, offset: int, limit: int
) -> tuple[list[Job], int]:
    conditions = [Job.owner_id == owner_id]
    if status:
        conditions.append(Job.status == status)
    total = session.scalar(select(func.count()).select_from(Job).where(*conditions)) or 0
    rows = session.scalars(
        select(Job).where(*conditions).order_by(Job.id.desc()).offset(offset).limit(limit)
    )
    return list(rows), total


def owner_names(session: Session, owner_ids: set[int]) -> dict[int, str]:
    rows = session.execute(select(User.id, User.username).where(User.id.in_(owner_ids)))
    return {user_id: name for user_id, name in rows}


def add_event(session: Session, job_id: int, type_: str, data: dict[str, Any]) -> None:
    session.add(JobEvent(job_id=job_id, type=type_, data=data))


def events_after(session: Session, job_id: int, after_id: int, limit: int = 500) -> list[JobEvent]:
    return list(
        session.scalars(
            select(JobEvent)
            .where(JobEvent.job_id == job_id, JobEvent.id > after_id)
            .order_by(JobEvent.id)
            .limit(limit)
        )
    )


def claim(session: Session, job_id: int, worker: str) -> bool:
    """Atomically move a queued job to running; False if another worker got it first."""
    now = utcnow()
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "queued")
        .values(
            status="running",
            started_at=now,
            heartbeat_at=now,
            worker=worker,
            attempts=Job.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def next_queued(session: Session, kinds: list[str], limit: int | None = 20) -> list[int]:
    """Ids of queued jobs of these kinds, oldest first."""
    query = select(Job.id).where(Job.status == "queued", Job.kind.in_(kinds)).order_by(Job.id)
    return list(session.scalars(query.limit(limit) if limit else query))


def stale_running(session: Session, moment: datetime) -> list[Job]:
    return list(
        session.scalars(
            select(Job).where(Job.status == "running", Job.heartbeat_at < moment).order_by(Job.id)
        )
    )


def heartbeat(session: Session, job_id: int, worker: str) -> bool:
    """Extend the job's lease; False when it no longer belongs to this worker."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "running", Job.worker == worker)
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)
