"""Job rows written straight into the test database, for states no worker needs to reach."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tinymlaas.db.base import utcnow
from tinymlaas.db.session import transaction
from tinymlaas.jobs import repository, service
from tinymlaas.models import Job, JobEvent, User

from conftest import Database


def queued_job(database: Database, kind: str = "train", queued_ago: float = 0.0) -> int:
    """A job of the admin's queued `queued_ago` seconds ago, with no model or file behind it."""
    with transaction(database.factory) as session:
        admin = session.scalars(select(User).where(User.username == "admin")).one()
        job = service.create_job(session, admin, kind)
        if queued_ago:
            job.updated_at = utcnow() - timedelta(seconds=queued_ago)
        return job.id


def claimed_job(database: Database, worker: str) -> int:
    """A job that `worker` (only a name: no process runs it) has taken."""
    job_id = queued_job(database)
    with transaction(database.factory) as session:
        assert repository.claim(session, job_id, worker)
    return job_id


def job_row(database: Database, job_id: int) -> Job:
    with database.factory() as session:
        return session.get_one(Job, job_id)


def job_events(database: Database, job_id: int) -> list[tuple[str, dict[str, Any]]]:
    with database.factory() as session:
        rows = session.scalars(
            select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id)
        )
        return [(row.type, row.data) for row in rows]
