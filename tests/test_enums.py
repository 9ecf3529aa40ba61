"""Job statuses and kinds are stored as the same plain strings as before they were enums.

(`app_client` starts the app, which creates the admin who owns the jobs.)
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from tinymlaas.db.session import transaction
from tinymlaas.enums import WORKER_KINDS, JobKind, JobStatus
from tinymlaas.jobs.runner import TASKS
from tinymlaas.models import Job

from conftest import Database
from support.job_rows import queued_job


def test_statuses_and_kinds_are_stored_as_plain_strings(
    app_client: TestClient, database: Database
) -> None:
    job_id = queued_job(database, kind=JobKind.compile)
    with database.engine.connect() as connection:
        stored = connection.execute(
            text("SELECT kind, status FROM jobs WHERE id = :id"), {"id": job_id}
        ).one()
    assert tuple(stored) == ("compile", "queued")


def test_rows_written_as_strings_read_back_as_members(
    app_client: TestClient, database: Database
) -> None:
    job_id = queued_job(database)
    with database.engine.begin() as connection:
        connection.execute(
            text("UPDATE jobs SET status = 'cancelled' WHERE id = :id"), {"id": job_id}
        )
    with transaction(database.factory) as session:
        job = session.get_one(Job, job_id)
        assert job.status is JobStatus.cancelled
        assert job.kind is JobKind.train


def test_workers_have_a_task_for_every_kind_they_are_sent() -> None:
    assert set(TASKS) == set(WORKER_KINDS)
