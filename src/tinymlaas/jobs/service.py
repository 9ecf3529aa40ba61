"""Rules of jobs: creating, cancelling, finishing, and failing those whose worker vanished."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Row, select, update
from sqlalchemy.orm import Session

from tinymlaas.config import Settings
from tinymlaas.db.base import utcnow
from tinymlaas.enums import FINISHED_STATUSES, WORKER_KINDS, JobKind, JobStatus
from tinymlaas.errors import Conflict, NotFound
from tinymlaas.jobs import queue, repository
from tinymlaas.jobs.schemas import JobRead
from tinymlaas.models import (
    CompiledModel,
    Device,
    DeviceCapture,
    DeviceTest,
    Job,
    Search,
    TrainedModel,
    User,
)

# Rows whose `status`/`error` mirror the job that produces them (matched on `job_id`).
JOB_RESOURCES: tuple[type[TrainedModel] | type[CompiledModel], ...] = (TrainedModel, CompiledModel)
# How the message of a job no worker has taken begins (it also marks the job as alerted).
UNCLAIMED_PREFIX = "no worker has taken this job"


def create_job(session: Session, owner: User, kind: JobKind) -> Job:
    """A queued job; one that workers run goes to the executor once this transaction commits."""
    job = Job(owner_id=owner.id, kind=kind, status=JobStatus.queued, message="waiting for a worker")
    session.add(job)
    session.flush()
    repository.add_event(session, job.id, "state", {"status": JobStatus.queued})
    if kind in WORKER_KINDS:
        queue.submit_after_commit(session, job.id)
    return job


def get_job(session: Session, owner: User, job_id: int) -> Job:
    job = repository.get_owned(session, owner.id, job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


def read_job(connection: Connection, owner: User, job_id: int) -> JobRead:
    """One of the owner's jobs as the API shows it, read on a plain connection (hot path)."""
    row = repository.get_owned_row(connection, owner.id, job_id)
    if row is None:
        raise NotFound(f"job {job_id} not found")
    return JobRead.model_validate({**row._mapping, "owner": owner.username})


def describe(
    session: Session | Connection,
    jobs: Sequence[Job] | Sequence[Row[Any]],
    owner: User | None = None,
) -> list[JobRead]:
    """Jobs (objects or Core rows) as the API shows them; pass `owner` when they are all theirs
    (saves a query)."""
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
    """Cancel a queued job now; ask a running one to stop (see the cancel endpoint).

    The row is locked and read again first: a worker or a bridge's hub may be claiming the job
    at this moment, and a job taken meanwhile must be asked to stop, not marked cancelled
    while it runs.
    """
    session.refresh(job, with_for_update=True)
    if job.status in FINISHED_STATUSES:
        raise Conflict(f"job {job.id} has already {job.status}")
    if job.status == JobStatus.queued:
        finish(session, job, JobStatus.cancelled, message="cancelled before it started")
    else:
        job.cancel_requested = True
        job.message = "cancelling…"
        repository.add_event(
            session, job.id, "state", {"status": JobStatus.running, "cancelling": True}
        )
    session.flush()
    return job


def finish(
    session: Session, job: Job, status: JobStatus, *, message: str = "", error: str | None = None
) -> None:
    """Put a job (and the row it produces) into a final state and record the event."""
    now = utcnow()
    job.status = status
    job.finished_at = now
    job.heartbeat_at = None
    job.error = error
    if status == JobStatus.succeeded:
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
    job.status = JobStatus.queued
    job.worker = None
    job.started_at = None
    job.heartbeat_at = None
    job.progress = 0.0
    job.message = reason
    set_resource_status(session, job.id, JobStatus.queued, None)
    repository.add_event(session, job.id, "state", {"status": JobStatus.queued, "message": reason})
    session.flush()


def set_resource_status(
    session: Session, job_id: int, status: JobStatus, error: str | None
) -> None:
    values: dict[str, Any] = {"status": status}
    if status != JobStatus.running:
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
            JobStatus.failed,
            message="worker lost",
            error=(
                f"the worker running this job ({job.worker}) stopped responding:"
                f" no heartbeat for {stale_seconds:.0f} s (it was killed or lost its connection)"
            ),
        )
        failed.append(job.id)
    return failed


def alert_unclaimed(session: Session, settings: Settings, kinds: Collection[JobKind]) -> list[int]:
    """Tell the owners of jobs queued for `job_unclaimed_alert_seconds` what to check.

    Once each time a job waits in the queue: the alert message marks the job, and it is set
    by a conditional UPDATE, so of several API processes only one records the event. With
    local or Celery workers, jobs waiting while a worker runs (or has just finished) another
    job are in a long queue, not forgotten, and are left alone; a per-job container should
    have taken its job at once, busy or not.
    """
    now = utcnow()
    moment = now - timedelta(seconds=settings.job_unclaimed_alert_seconds)
    waiting = repository.unclaimed(session, kinds, moment, UNCLAIMED_PREFIX)
    if not waiting:
        return []
    executor = settings.resolved_executor
    if executor != "docker" and repository.workers_active_since(session, kinds, moment):
        return []
    alerted = []
    for job_id, queued_since in waiting:
        waited = (now - queued_since).total_seconds()
        message = f"{UNCLAIMED_PREFIX} in {duration(waited)}: {unclaimed_advice(settings)}"
        if repository.mark_unclaimed(session, job_id, message, UNCLAIMED_PREFIX):
            repository.add_event(
                session,
                job_id,
                "state",
                {
                    "status": JobStatus.queued,
                    "message": message,
                    "unclaimed": True,
                    "waited_seconds": round(waited),
                },
            )
            alerted.append(job_id)
    session.flush()
    return alerted


def unclaimed_advice(settings: Settings) -> str:
    """What to check when no worker takes jobs, for the configured executor."""
    if settings.resolved_executor == "celery":
        return (
            f"no Celery worker is taking jobs from the queue '{settings.celery_queue}'."
            " Start `tinymlaas worker` with the same TINYMLAAS_BROKER_URL and"
            " TINYMLAAS_CELERY_QUEUE as the server, and check that it reaches the broker"
            " and the database"
        )
    if settings.resolved_executor == "docker":
        return (
            f"no worker container ({settings.docker_image}) has taken it. Check that the server"
            " reaches the container engine, that the image is there (a first pull can be slow),"
            " and that the containers reach the database (TINYMLAAS_DOCKER_DATABASE_URL); the"
            " server log says more"
        )
    if settings.local_workers == 0:
        return (
            "the server starts no local workers (TINYMLAAS_LOCAL_WORKERS=0). Run `tinymlaas"
            " worker --local` with the same TINYMLAAS_DATABASE_URL, or set"
            " TINYMLAAS_LOCAL_WORKERS to 1 or more"
        )
    return (
        f"the server's {settings.local_workers} local worker process(es) are not taking jobs."
        " Check the server log (they may fail at start), or run `tinymlaas worker --local`"
        " with the same TINYMLAAS_DATABASE_URL"
    )


def duration(seconds: float) -> str:
    """E.g. "45 s", "2 min 5 s", "3 h 20 min"."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@dataclass(frozen=True)
class JobResource:
    """What a job works for: a trained model, a compiled model, an install on a device, a
    device test (of a compiled model, on a device), a capture (from a device) or a search."""

    kind: Literal["model", "compiled", "installation", "device_test", "capture", "search"]
    id: int
    name: str
    installed_id: int | None = None  # an install's compiled model
    device: tuple[int, str] | None = None  # a device test's device: id, name


def resources(session: Session, jobs: Sequence[Job]) -> dict[int, JobResource]:
    """The resource of each job that has one, in one query for the whole list."""
    found: dict[int, JobResource] = {}
    rows = repository.resources_of(session, [job.id for job in jobs]) if jobs else []
    for job_id, model_id, model_name, compiled_id, board, device_id, device_name, installed in rows:
        if model_id is not None and model_name is not None:
            found[job_id] = JobResource("model", model_id, model_name)
        elif compiled_id is not None and board is not None:
            found[job_id] = JobResource("compiled", compiled_id, board)
        elif device_id is not None and device_name is not None:
            found[job_id] = JobResource("installation", device_id, device_name, installed)
    rest = [job.id for job in jobs if job.id not in found]
    return found | (_device_work_and_searches(session, rest) if rest else {})


def _device_work_and_searches(session: Session, job_ids: list[int]) -> dict[int, JobResource]:
    """The resources of device tests, captures and searches."""
    found: dict[int, JobResource] = {}
    tests = session.execute(
        select(DeviceTest.job_id, DeviceTest.compiled_id, Device.id, Device.name)
        .join(Device, Device.id == DeviceTest.device_id)
        .where(DeviceTest.job_id.in_(job_ids))
    )
    for job_id, compiled_id, device_id, device_name in tests:
        device = (device_id, device_name)
        found[job_id] = JobResource("device_test", compiled_id, "device test report", device=device)
    captures = session.execute(
        select(DeviceCapture.job_id, Device.id, Device.name)
        .join(Device, Device.id == DeviceCapture.device_id)
        .where(DeviceCapture.job_id.in_(job_ids))
    )
    for job_id, device_id, device_name in captures:
        found[job_id] = JobResource("capture", device_id, device_name)
    searches = session.execute(
        select(Search.job_id, Search.id, Search.name).where(Search.job_id.in_(job_ids))
    )
    for search_job, search_id, search_name in searches:
        if search_job is not None:
            found[search_job] = JobResource("search", search_id, search_name)
    return found
