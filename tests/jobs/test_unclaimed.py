"""A queued job no worker takes does not wait silently: after TINYMLAAS_JOB_UNCLAIMED_ALERT_SECONDS
it says what to check (once), GET /health counts it, and a worker started later runs it."""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tinymlaas.app import create_app
from tinymlaas.config import Settings
from tinymlaas.db.base import utcnow
from tinymlaas.db.session import transaction
from tinymlaas.jobs import repository, service
from tinymlaas.jobs.runner import TASKS
from tinymlaas.models import Job

from conftest import ADMIN_PASSWORD, Database, login
from support.job_rows import claimed_job, job_events, job_row, queued_job
from support.jobs import parse_sse, wait_for_job
from support.processes import start_worker, stop, train, worker_env

ALERT = service.UNCLAIMED_PREFIX
REDIS = "redis://127.0.0.1:6379/0"


@contextmanager
def serving(settings: Settings) -> Iterator[TestClient]:
    """The app as `tinymlaas serve` runs it (job maintenance included), logged in as admin."""
    with TestClient(create_app(settings, run_workers=True)) as client:
        client.headers.update(login(client, "admin", ADMIN_PASSWORD))
        yield client


def alerts(database: Database, job_id: int) -> list[dict[str, Any]]:
    return [data for _, data in job_events(database, job_id) if data.get("unclaimed")]


def wait_for_alert(client: TestClient, job_id: int, timeout: float = 30) -> dict[str, Any]:
    return wait_for_job(
        client, job_id, timeout, lambda job: job["message"].startswith(ALERT), "unclaimed alert"
    )


def sse_events(client: TestClient, job_id: int) -> list[tuple[str, dict[str, Any]]]:
    """The job's event stream as an SSE watcher receives it (complete: the job has ended)."""
    with client.stream("GET", f"/api/v1/jobs/{job_id}/events") as response:
        return parse_sse("".join(response.iter_text()))


def health_jobs(client: TestClient) -> dict[str, Any]:
    response = client.get("/api/v1/health", headers={"Authorization": ""})
    assert response.status_code == 200, response.text
    jobs: dict[str, Any] = response.json()["jobs"]
    return jobs


@dataclass
class NoWorker:
    """An executor configured with no worker running, and how to start the missing worker."""

    worker_args: tuple[str, ...]
    worker_env: dict[str, str] = field(default_factory=dict)
    advice: tuple[str, ...] = ()  # what the alert must tell


@pytest.fixture(params=["celery", "local"])
def no_worker(request: pytest.FixtureRequest, settings: Settings) -> NoWorker:
    settings.job_unclaimed_alert_seconds = 2.0
    if request.param == "local":  # the settings fixture has TINYMLAAS_LOCAL_WORKERS=0
        return NoWorker(("--local",), advice=("TINYMLAAS_LOCAL_WORKERS=0", "worker --local"))
    queue = f"tinymlaas-test-{secrets.token_hex(4)}"
    settings.broker_url = REDIS
    settings.celery_queue = queue
    return NoWorker(
        ("--pool", "solo"),
        {"TINYMLAAS_BROKER_URL": REDIS, "TINYMLAAS_CELERY_QUEUE": queue},
        ("no Celery worker", f"'{queue}'", "`tinymlaas worker`", "TINYMLAAS_BROKER_URL"),
    )


@pytest.mark.slow
def test_a_job_no_worker_takes_says_what_to_check_then_runs_once_a_worker_starts(
    no_worker: NoWorker, settings: Settings, database: Database
) -> None:
    with serving(settings) as client:
        job_id = train(client, epochs=1)["job_id"]
        job = wait_for_alert(client, job_id)
        assert job["status"] == "queued"
        assert re.match(rf"{ALERT} in \d+ s: ", job["message"]), job["message"]
        for advice in no_worker.advice:
            assert advice in job["message"], job["message"]
        jobs = health_jobs(client)
        assert (jobs["queued"], jobs["unclaimed"]) == (1, 1), jobs
        assert jobs["oldest_wait_seconds"] >= 2.0
        time.sleep(3)  # several more maintenance passes: still the one alert
        assert len(alerts(database, job_id)) == 1

        worker = start_worker(worker_env(settings, **no_worker.worker_env), *no_worker.worker_args)
        try:
            finished = wait_for_job(client, job_id, timeout=180)
        finally:
            stop(worker)
        assert finished["status"] == "succeeded", finished
        assert finished["message"] == "done"

        events = sse_events(client, job_id)
        alerted = [i for i, (_, data) in enumerate(events) if data.get("unclaimed")]
        running = [i for i, (kind, data) in enumerate(events) if data.get("status") == "running"]
        assert len(alerted) == 1, events
        assert events[alerted[0]] == (
            "state",
            {
                "status": "queued",
                "message": job["message"],
                "unclaimed": True,
                "waited_seconds": events[alerted[0]][1]["waited_seconds"],
            },
        )
        assert alerted[0] < running[0]
        assert events[running[0]][1]["message"].startswith("running on ")
        assert events[-1][1]["status"] == "succeeded"
        assert health_jobs(client) == {
            "queued": 0,
            "unclaimed": 0,
            "oldest_wait_seconds": None,
            "unclaimed_alert_seconds": 2.0,
        }


@pytest.mark.slow
def test_jobs_queued_behind_a_busy_worker_are_not_alerted_until_it_is_idle(
    settings: Settings, database: Database
) -> None:
    settings.job_unclaimed_alert_seconds = 1.0
    with serving(settings) as client:
        busy = claimed_job(database, "busy-host:1")
        waiting = queued_job(database)
        time.sleep(4)  # several maintenance passes, while a worker runs another job
        assert job_row(database, waiting).message == "waiting for a worker"
        assert alerts(database, waiting) == []
        assert health_jobs(client)["unclaimed"] == 1  # waiting long, busy workers or not

        with transaction(database.factory) as session:
            service.finish(session, session.get_one(Job, busy), "succeeded")
        job = wait_for_alert(client, waiting, timeout=15)
        assert "TINYMLAAS_LOCAL_WORKERS=0" in job["message"]
        assert alerts(database, busy) == []


def test_of_several_api_processes_one_alerts_a_job(
    settings: Settings, database: Database, client: TestClient
) -> None:
    """Two maintenance passes at once (two API processes): one UPDATE wins, one event."""
    settings.job_unclaimed_alert_seconds = 60.0
    job_id = queued_job(database, queued_ago=3700)
    first_done, release = threading.Event(), threading.Event()
    results: dict[str, list[int]] = {}

    def first() -> None:
        with transaction(database.factory) as session:
            results["first"] = service.alert_unclaimed(session, settings, TASKS)
            first_done.set()
            release.wait(30)  # holds its row lock, uncommitted, like a slow process

    def second() -> None:
        with transaction(database.factory) as session:
            results["second"] = service.alert_unclaimed(session, settings, TASKS)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_done.wait(30)
    threads[1].start()
    time.sleep(1.0)
    assert threads[1].is_alive(), "the second pass should wait for the first one's row lock"
    release.set()
    for thread in threads:
        thread.join(30)

    assert results == {"first": [job_id], "second": []}
    message = job_row(database, job_id).message
    assert message.startswith(f"{ALERT} in 1 h 1 min: ")
    assert [data["message"] for data in alerts(database, job_id)] == [message]


def test_a_job_queued_again_after_a_worker_shutdown_can_be_alerted_again(
    settings: Settings, database: Database, client: TestClient
) -> None:
    settings.job_unclaimed_alert_seconds = 60.0
    job_id = queued_job(database, queued_ago=120)
    with transaction(database.factory) as session:
        assert service.alert_unclaimed(session, settings, TASKS) == [job_id]
    with transaction(database.factory) as session:
        assert service.alert_unclaimed(session, settings, TASKS) == []  # once
        assert repository.claim(session, job_id, "leaving-host:1")
    with transaction(database.factory) as session:
        service.requeue(session, session.get_one(Job, job_id), "worker shut down; queued again")
    with transaction(database.factory) as session:
        assert service.alert_unclaimed(session, settings, TASKS) == []  # just queued again
        session.get_one(Job, job_id).updated_at = utcnow() - timedelta(seconds=120)
    with transaction(database.factory) as session:
        assert service.alert_unclaimed(session, settings, TASKS) == [job_id]
    assert len(alerts(database, job_id)) == 2


def test_health_counts_queued_jobs_and_shows_nothing_of_them(
    app_client: TestClient, database: Database
) -> None:
    queued_job(database, queued_ago=3600)
    queued_job(database, queued_ago=5)
    queued_job(database, kind="install", queued_ago=7200)  # waits for a bridge, not a worker
    claimed_job(database, "some-host:1")

    response = app_client.get("/api/v1/health")  # no token

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    jobs = body["jobs"]
    assert jobs == {
        "queued": 2,
        "unclaimed": 1,
        "oldest_wait_seconds": jobs["oldest_wait_seconds"],
        "unclaimed_alert_seconds": 120.0,
    }
    assert 3600 <= jobs["oldest_wait_seconds"] < 3660


def test_health_stays_ok_on_a_database_without_the_schema(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(data_dir=tmp_path), prepare=False)) as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
    assert response.json()["jobs"] is None


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"executor": "docker", "docker_image": "registry.example/worker:7"}, "worker:7"),
        ({"local_workers": 2}, "2 local worker process(es) are not taking jobs"),
        ({"local_workers": 0}, "TINYMLAAS_LOCAL_WORKERS=0"),
        ({"broker_url": REDIS, "celery_queue": "ml"}, "the queue 'ml'"),
    ],
    ids=["docker", "local", "no-local-workers", "celery"],
)
def test_the_alert_says_what_to_check_for_the_executor(
    tmp_path: Path, overrides: dict[str, Any], expected: str
) -> None:
    advice = service.unclaimed_advice(Settings(data_dir=tmp_path, **overrides))
    assert expected in advice
    assert REDIS not in advice  # the broker's address (and password) stays in the server log


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(4.6, "5 s"), (120, "2 min"), (125, "2 min 5 s"), (3600, "1 h"), (3720, "1 h 2 min")],
)
def test_duration(seconds: float, text: str) -> None:
    assert service.duration(seconds) == text
