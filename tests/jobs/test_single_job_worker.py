"""`tinymlaas worker --job ID` (what a per-job container runs) says by its exit code how the job
ended: 0 succeeded, 1 failed or cancelled, 2 no such job, 3 not run (someone else has it)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url

from tinymlaas.config import Settings

from conftest import Database
from support.job_rows import claimed_job, job_events, job_row, queued_job
from support.processes import train, worker_env


def run_job_worker(settings: Settings, job_id: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tinymlaas", "worker", "--job", str(job_id)],
        env=worker_env(settings),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_a_job_that_succeeds_exits_0(client: TestClient, settings: Settings) -> None:
    job_id = train(client, epochs=1)["job_id"]  # no worker runs in the tests' app
    result = run_job_worker(settings, job_id)
    assert result.returncode == 0, result.stderr
    assert last_line(result) == f"job {job_id}: succeeded"
    assert client.get(f"/api/v1/jobs/{job_id}").json()["status"] == "succeeded"


def test_a_job_that_fails_exits_1_with_its_error(
    client: TestClient, settings: Settings, database: Database
) -> None:
    job_id = queued_job(database)  # a training job whose model row does not exist
    result = run_job_worker(settings, job_id)
    assert result.returncode == 1, result.stderr
    assert last_line(result) == (
        f"job {job_id}: failed: LookupError: no model belongs to job {job_id}"
    )
    assert job_row(database, job_id).status == "failed"


def test_a_job_another_worker_runs_is_left_alone_with_exit_3(
    client: TestClient, settings: Settings, database: Database
) -> None:
    job_id = claimed_job(database, "other-host:42")
    events_before = job_events(database, job_id)
    result = run_job_worker(settings, job_id)
    assert result.returncode == 3, result.stderr
    assert last_line(result) == (
        f"job {job_id} not run: another worker (other-host:42) is running it"
    )
    job = job_row(database, job_id)
    assert (job.status, job.worker, job.error) == ("running", "other-host:42", None)
    assert job_events(database, job_id) == events_before


def test_a_job_cancelled_before_it_started_exits_3(
    client: TestClient, settings: Settings, database: Database
) -> None:
    job_id = queued_job(database)
    assert client.post(f"/api/v1/jobs/{job_id}/cancel").json()["status"] == "cancelled"
    result = run_job_worker(settings, job_id)
    assert result.returncode == 3, result.stderr
    assert last_line(result) == f"job {job_id} not run: it has already ended (cancelled)"
    assert job_row(database, job_id).status == "cancelled"


def test_an_install_job_is_not_taken_by_a_worker(
    client: TestClient, settings: Settings, database: Database
) -> None:
    job_id = queued_job(database, kind="install")  # the bridge's server process runs these
    result = run_job_worker(settings, job_id)
    assert result.returncode == 3, result.stderr
    assert "install jobs are run by the server, not by workers" in last_line(result)
    assert job_row(database, job_id).status == "queued"


def test_a_job_id_that_names_no_job_exits_2(client: TestClient, settings: Settings) -> None:
    result = run_job_worker(settings, 987654)
    assert result.returncode == 2, result.stderr
    line = last_line(result)
    assert line.startswith("job 987654 does not exist (database ")
    assert str(make_url(settings.resolved_database_url).database) in line  # which one was asked
