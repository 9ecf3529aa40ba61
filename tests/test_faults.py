"""PostgreSQL restarts: under load, 503 while it is down (no 500, no hang), nothing lost; a
training job running through an outage still ends with its results."""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tinymlaas.app import create_app
from tinymlaas.config import Settings

from conftest import ADMIN_PASSWORD, login
from support.jobs import wait_for_job
from support.processes import start_worker, stop, train, worker_env
from support.waiting import wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.db_restart,
    pytest.mark.parametrize("migrated_database", ["postgresql"], indirect=True),
]


def postgresql(action: str) -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action, "-m", "fast"]
        if action == "stop"
        else ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        check=True,
        capture_output=True,
        timeout=60,
    )


def pg_ready() -> bool:
    result = subprocess.run(["pg_isready", "-h", "127.0.0.1"], capture_output=True)
    return result.returncode == 0


def test_postgresql_restart_under_load(server_url: str) -> None:
    token = httpx.post(
        f"{server_url}/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    created: list[str] = []
    statuses: Counter[int] = Counter()
    slowest = 0.0
    stop = threading.Event()

    def load(worker: int) -> None:
        nonlocal slowest
        with httpx.Client(base_url=f"{server_url}/api/v1", headers=headers, timeout=15) as http:
            index = 0
            while not stop.is_set():
                name = f"w{worker}-{index}"
                started = time.monotonic()
                response = http.post("/datasets", json={"name": name})
                listing = http.get("/datasets", params={"limit": 5})
                slowest = max(slowest, time.monotonic() - started)
                statuses[response.status_code] += 1
                statuses[listing.status_code] += 1
                if response.status_code == 201:
                    created.append(name)
                index += 1
                time.sleep(0.02)

    threads = [threading.Thread(target=load, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2)
        postgresql("stop")
        time.sleep(4)
        down = dict(statuses)
        health = httpx.get(f"{server_url}/api/v1/health", timeout=10)
        assert health.status_code == 503
        postgresql("start")
        deadline = time.monotonic() + 60
        while not pg_ready() and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(4)
    finally:
        if not pg_ready():
            postgresql("start")
        stop.set()
        for thread in threads:
            thread.join(timeout=60)

    assert set(statuses) <= {200, 201, 503}, statuses
    assert down.get(503, 0) > 0, "requests while the database was down should have been 503"
    assert statuses[201] > down.get(201, 0), "requests should succeed again after the restart"
    assert slowest < 15
    with httpx.Client(base_url=f"{server_url}/api/v1", headers=headers, timeout=30) as http:
        names = {
            item["name"] for item in http.get("/datasets", params={"limit": 1000}).json()["items"]
        }
    assert set(created) <= names  # every 201 was really committed


def wait_for_postgresql() -> None:
    wait_for(pg_ready, 60, "PostgreSQL coming back")


def test_a_training_job_lives_through_a_database_outage_longer_than_its_lease(
    settings: Settings,
) -> None:
    # The API process fails jobs whose lease (6 s here) expired; the database is away for 15 s,
    # so for a moment after it is back every running job looks abandoned. The worker goes on
    # training, skips the progress reports it cannot write, stores its results once the
    # database is back; the API waits a whole lease before failing anything.
    settings = settings.model_copy(update={"job_stale_seconds": 6.0})
    worker = start_worker(worker_env(settings), "--local")
    try:
        with TestClient(create_app(settings, run_workers=True)) as client:
            client.headers.update(login(client, "admin", ADMIN_PASSWORD))
            accepted = train(client, epochs=120)
            job_id = accepted["job_id"]
            wait_for_job(client, job_id, 120, lambda job: job["progress"] >= 0.2, "starting")
            postgresql("stop")
            try:
                time.sleep(15)
            finally:
                postgresql("start")
            wait_for_postgresql()
            job = wait_for_job(client, job_id, timeout=180)
            assert job["status"] == "succeeded", job
            model = client.get(f"/api/v1/models/{accepted['id']}").json()
            assert model["status"] == "succeeded"
            assert len(model["history"]) == 120
    finally:
        if not pg_ready():
            postgresql("start")
            wait_for_postgresql()
        stop(worker)
