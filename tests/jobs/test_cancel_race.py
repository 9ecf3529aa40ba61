"""Cancelling a job at the moment a worker (or a bridge's hub) claims it."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from tinymlaas.jobs import repository

from conftest import Database
from support.job_rows import job_row, queued_job

pytestmark = [
    pytest.mark.services,
    pytest.mark.parametrize("migrated_database", ["postgresql", "mariadb"], indirect=True),
]


def test_a_job_claimed_while_it_is_being_cancelled_is_asked_to_stop_not_marked_cancelled(
    client: TestClient, database: Database
) -> None:
    job_id = queued_job(database)
    with database.factory() as claiming:
        # A worker has taken the job but not committed yet when the cancel arrives.
        assert repository.claim(claiming, job_id, "worker-a")
        with ThreadPoolExecutor(max_workers=1) as pool:
            cancel = pool.submit(client.post, f"/api/v1/jobs/{job_id}/cancel")
            time.sleep(0.5)
            assert not cancel.done(), "the cancel must wait for the claim's row lock"
            claiming.commit()
            response = cancel.result(timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "running"
    row = job_row(database, job_id)
    assert (row.status, row.cancel_requested, row.worker) == ("running", True, "worker-a")
