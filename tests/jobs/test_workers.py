"""Workers as separate processes: Celery on Redis and RabbitMQ, a killed worker, isolation."""

from __future__ import annotations

import secrets
import signal
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tinymlaas.app import create_app
from tinymlaas.config import Settings

from conftest import ADMIN_PASSWORD, login
from support.jobs import wait_for_job
from support.processes import start_worker, stop, train, worker_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("migrated_database", ["postgresql"], indirect=True),
]


@pytest.fixture(params=["redis://127.0.0.1:6379/0", "amqp://guest:guest@127.0.0.1:5672//"])
def celery_client(request: pytest.FixtureRequest, settings: Settings) -> Iterator[TestClient]:
    """An API that enqueues on a real broker, and a Celery worker in its own process."""
    queue = f"tinymlaas-test-{secrets.token_hex(4)}"
    settings.broker_url = request.param
    settings.celery_queue = queue
    env = worker_env(settings, TINYMLAAS_BROKER_URL=request.param, TINYMLAAS_CELERY_QUEUE=queue)
    worker = start_worker(env, "--pool", "solo")
    try:
        with TestClient(create_app(settings)) as client:
            client.headers.update(login(client, "admin", ADMIN_PASSWORD))
            yield client
    finally:
        stop(worker)


def test_celery_worker_runs_jobs_from_the_broker(celery_client: TestClient) -> None:
    accepted = train(celery_client, epochs=2)
    job = wait_for_job(celery_client, accepted["job_id"], timeout=180)
    assert job["status"] == "succeeded", job
    assert job["worker"]
    assert job["worker"].split(":")[-1].isdigit()  # host:pid of the Celery worker process
    model = celery_client.get(f"/api/v1/models/{accepted['id']}").json()
    assert len(model["history"]) == 2


def test_a_killed_worker_leaves_its_job_failed_not_running(
    client: TestClient, settings: Settings
) -> None:
    env = worker_env(settings)
    first = start_worker(env, "--local")
    second = None
    try:
        accepted = train(client, epochs=1000)
        job = wait_for_job(
            client,
            accepted["job_id"],
            120,
            lambda job: job["status"] == "running" and job["progress"] > 0.12,
            "running past 12 %",
        )
        assert job["status"] == "running", job
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = time.monotonic()
        second = start_worker(env, "--local")  # any live worker (or the API) notices the lost lease
        job = wait_for_job(client, accepted["job_id"], timeout=60)
        assert time.monotonic() - killed_at < 60
        assert job["status"] == "failed"
        assert "stopped responding" in job["error"]
        assert client.get(f"/api/v1/models/{accepted['id']}").json()["status"] == "failed"
    finally:
        stop(first)
        if second is not None:
            stop(second)


def test_queued_jobs_run_after_a_restart(client: TestClient, settings: Settings) -> None:
    accepted = train(client, epochs=1)  # no worker is running: the job waits
    time.sleep(1)
    assert client.get(f"/api/v1/jobs/{accepted['job_id']}").json()["status"] == "queued"
    worker = start_worker(worker_env(settings), "--local")
    try:
        assert wait_for_job(client, accepted["job_id"], timeout=180)["status"] == "succeeded"
    finally:
        stop(worker)
