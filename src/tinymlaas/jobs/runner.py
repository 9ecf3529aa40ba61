"""Run one job in this process: claim it, keep its lease alive, record how it ended."""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import traceback
from collections.abc import Callable
from functools import cache

from sqlalchemy.orm import Session, sessionmaker

from tinymlaas.config import Settings
from tinymlaas.db.session import (
    commit_patiently,
    make_engine,
    make_session_factory,
    transaction,
)
from tinymlaas.enums import JobKind, JobStatus
from tinymlaas.jobs import repository, service
from tinymlaas.jobs.context import RESULT_PATIENCE_SECONDS, JobCancelled, JobContext
from tinymlaas.models import Job

log = logging.getLogger(__name__)

# kind -> "module:function"; imported only when a job of that kind runs, in a worker.
TASKS: dict[JobKind, str] = {
    JobKind.train: "tinymlaas.training.tasks:run",
    JobKind.compile: "tinymlaas.compiling.tasks:run",
    JobKind.validate: "tinymlaas.training.import_tasks:run",
    JobKind.device_test: "tinymlaas.devices.testing.tasks:run",
}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def load_task(kind: JobKind) -> Callable[[JobContext], None]:
    module_name, function = TASKS[kind].split(":")
    task: Callable[[JobContext], None] = getattr(importlib.import_module(module_name), function)
    return task


def run_job(factory: sessionmaker[Session], job_id: int, heartbeat_seconds: float = 5.0) -> str:
    """Run the job if it is still queued; returns its final status (or 'skipped')."""
    worker = worker_name()
    with transaction(factory) as session:
        # Only kinds a worker runs: install jobs belong to the API process holding the bridge.
        if not repository.claim(session, job_id, worker, kinds=TASKS):
            return "skipped"
        service.set_resource_status(session, job_id, JobStatus.running, None)
        job = session.get_one(Job, job_id)
        # Replaces "waiting for a worker" (or the unclaimed alert) until the task reports.
        job.message = f"running on {worker}"[:500]
        event = {"status": JobStatus.running, "worker": worker, "message": job.message}
        repository.add_event(session, job_id, "state", event)
        kind = job.kind
    stop = threading.Event()
    beat = threading.Thread(
        target=_heartbeat, args=(factory, job_id, worker, heartbeat_seconds, stop), daemon=True
    )
    beat.start()
    status, message, error = JobStatus.succeeded, "done", None
    try:
        load_task(kind)(JobContext(job_id, factory, worker))
    except JobCancelled:
        status, message = JobStatus.cancelled, "cancelled by the user"
    except (SystemExit, KeyboardInterrupt):
        stop.set()
        with transaction(factory) as session:
            service.requeue(
                session,
                session.get_one(Job, job_id),
                "interrupted by a worker shutdown; queued again",
            )
        raise
    except Exception as exc:  # any task failure ends up in the job, never lost
        log.exception("job %s failed", job_id)
        status, message = JobStatus.failed, "failed"
        error = f"{type(exc).__name__}: {exc}"
        if not str(exc):
            error += "\n" + "".join(traceback.format_exception(exc)[-3:])
    finally:
        stop.set()
        beat.join()

    def record(session: Session) -> str:
        job = session.get_one(Job, job_id)
        if job.status == JobStatus.running:
            service.finish(session, job, status, message=message, error=error)
        return job.status

    # The outcome must land even when the database is restarting right now.
    return commit_patiently(factory, record, RESULT_PATIENCE_SECONDS, f"job {job_id}: finishing")


def _heartbeat(
    factory: sessionmaker[Session], job_id: int, worker: str, every: float, stop: threading.Event
) -> None:
    while not stop.wait(every):
        try:
            with transaction(factory) as session:
                repository.heartbeat(session, job_id, worker)
        except Exception:  # a missed beat is retried; the lease tolerates several
            log.warning("heartbeat for job %s failed", job_id, exc_info=True)


@cache
def session_factory(url: str) -> sessionmaker[Session]:
    """One engine per database URL for the jobs this process runs."""
    return make_session_factory(make_engine(url))


def run_one(settings: Settings, job_id: int) -> str:
    """Run one job by id in this process (what the Celery task and `worker --job` do)."""
    return run_job(
        session_factory(settings.resolved_database_url), job_id, settings.job_heartbeat_seconds
    )
