"""Rules of jobs: creating, cancelling, finishing, and failing those whose worker vanished."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from tinymlaas.db.base import utcnow
from tinymlaas.errors import Conflict, NotFound
from tinymlaas.jobs import repository
from tinymlaas.jobs.schemas import JobRead
from tinymlaas.models import CompiledModel, Job, TrainedModel, User
from tinymlaas.models.job import FINISHED_STATUSES

# Rows whose `status`/`error` mirror the job that produces them (matched on `job_id`).
JOB_RESOURCES: tuple[type[TrainedModel] | type[CompiledModel], ...] = (TrainedModel, CompiledModel)


def create_job(session: Session, owner: User, kind: str) -> Job:
    job = Job(owner_id=owner.id, kind=kind, status="queued", message="waiting for a worker")
    session.add(job)
    session.flush()
    repository.add_event(session, job.id, "state", {"status": "queued"})
    return job


def get_job(session: Session, owner: User, job_id: int) -> Job:
    job = repository.get_owned(session, owner.id, job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


def describe(session: Session, jobs: Sequence[Job], owner: User | None = None) -> list[JobRead]:
    """Jobs as the API shows them; pass `owner` when they are all theirs (saves a query)."""
    owners = {job.owner_id for job in jobs}
    if owner is not None and owners <= {owner.id}:
        names = {owner.id: owner.username}
    else:
        names = repository.owner_names(session, owners)
    return [
        JobRead.model_validate(
            {
                **{c: getattr(job, c) for c in JobRead.model_fields if c != "owner"},
                "owner": names.get(job.owner_id, ""),
            }
        )
        for job in jobs
    ]


def cancel(session: Session, job: Job) -> Job:
    """Cancel a queued job now; ask a running one to stop at its next batch."""
    if job.status in FINISHED_STATUSES:
        raise Conflict(f"job {job.id} has already {job.status}")
    if job.status == "queued":
        finish(session, job, "cancelled", message="cancelled before it started")
    else:
        job.cancel_requested = True
        job.message = "cancelling…"
        repository.add_event(session, job.id, "state", {"status": "running", "cancelling": True})
    session.flush()
    return job


def finish(
    session: Session, job: Job, status: str, *, message: str = "", error: str | None = None
) -> None:
    """Put a job (and the row it produces) into a final state and record the event."""
    now = utcnow()
    job.status = status
    job.finished_at = now
    job.heartbeat_at = None
    job.error = error
    if status == "succeeded":
        job.progress = 1.0
    job.message = message or status
    set_resource_status(session, job.id, status, error)
    event: dict[str, Any] = {"status": status, "progress": job.progress, "message": job.message}
    if error:
        event["error"] = error
    repository.add_event(session, job.id, "state", event)
    session.flush()


def requeue(session: Session, job: Job, reason: str) -> None:
    """Give a job back to the queue (its worker is shutting down); it runs again later."""
    job.status = "queued"
    job.worker = None
    job.started_at = None
    job.heartbeat_at = None
    job.progress = 0.0
    job.message = reason
    set_resource_status(session, job.id, "queued", None)
    repository.add_event(session, job.id, "state", {"status": "queued", "message": reason})
    session.flush()


def set_resource_status(session: Session, job_id: int, status: str, error: str | None) -> None:
    values: dict[str, Any] = {"status": status}
    if status != "running":
        values["error"] = error
    for model in JOB_RESOURCES:
        session.execute(
            update(model)
            .where(model.job_id == job_id, model.status.not_in(FINISHED_STATUSES))
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def fail_stale(session: Session, stale_seconds: float) -> list[int]:
    """Fail running jobs whose worker has not sent a heartbeat for `stale_seconds`."""
    moment = utcnow() - timedelta(seconds=stale_seconds)
    failed = []
    for job in repository.stale_running(session, moment):
        finish(
            session,
            job,
            "failed",
            message="worker lost",
            error=(
                f"the worker running this job ({job.worker}) stopped responding:"
                f" no heartbeat for {stale_seconds:.0f} s (it was killed or lost its connection)"
            ),
        )
        failed.append(job.id)
    return failed
