"""Where a committed job goes: local worker processes (polling) or a Celery broker."""

from __future__ import annotations

import logging
from typing import Protocol

from tinymlaas.config import Settings

log = logging.getLogger(__name__)


class Executor(Protocol):
    """Hands a committed, queued job to whatever runs jobs."""

    def submit(self, job_id: int) -> None: ...


class LocalExecutor:
    """Local workers poll the jobs table, so a committed queued job needs no message."""

    def submit(self, job_id: int) -> None:
        return None


class CeleryExecutor:
    """Sends the job id to the broker; any worker on any machine may take it."""

    def __init__(self, settings: Settings) -> None:
        from tinymlaas.jobs.celery_app import make_celery

        self.celery = make_celery(settings)

    def submit(self, job_id: int) -> None:
        # A failed send leaves the job queued; queued jobs are sent again when the API starts.
        try:
            self.celery.send_task("tinymlaas.run_job", args=[job_id])
        except Exception:
            log.exception("could not send job %s to the broker", job_id)


def make_executor(settings: Settings) -> Executor:
    if settings.resolved_executor == "celery":
        return CeleryExecutor(settings)
    if settings.resolved_executor == "docker":
        from tinymlaas.jobs.docker_executor import DockerExecutor

        return DockerExecutor(settings)
    return LocalExecutor()
