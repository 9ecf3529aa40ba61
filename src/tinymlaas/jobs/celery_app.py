"""The Celery application: one task that runs a job by id."""

from __future__ import annotations

from celery import Celery

from tinymlaas.config import Settings
from tinymlaas.jobs.runner import run_one


def make_celery(settings: Settings) -> Celery:
    if not settings.broker_url:
        raise ValueError("TINYMLAAS_BROKER_URL is not set")
    app = Celery("tinymlaas", broker=settings.broker_url)
    app.conf.update(
        task_default_queue=settings.celery_queue,
        task_acks_late=True,  # a job's message is acknowledged only after it ran
        task_reject_on_worker_lost=False,  # the lease marks the job failed instead of a re-run
        worker_prefetch_multiplier=1,  # long jobs: do not reserve more than one
        task_ignore_result=True,  # results live in the database
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        broker_transport_options={"visibility_timeout": 6 * 3600},
    )

    def run_job_task(job_id: int) -> str:
        return run_one(settings, job_id)

    # Registered by a call rather than as a decorator: Celery's decorator is untyped.
    app.task(name="tinymlaas.run_job")(run_job_task)
    return app
