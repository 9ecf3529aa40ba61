"""The api and worker images for real: the API container migrates an empty PostgreSQL database
and serves, and a training job submitted to it is run by a worker container through Redis."""

from __future__ import annotations

import secrets
import time

import httpx
import pytest

from deploy.engine import Containers, ScratchDatabase, free_port, wait_for_health

from conftest import ADMIN_PASSWORD, SECRET_KEY
from support.factories import pattern_dataset_zip

pytestmark = [pytest.mark.deploy, pytest.mark.slow]

TRAINING = {
    "name": "tiny",
    "architecture": "cnn-small",
    "alpha": 0.5,
    "input_width": 16,
    "input_height": 16,
    "epochs": 2,
    "batch_size": 8,
    "seed": 3,
}


def wait_for_job(http: httpx.Client, job_id: int, timeout: float = 180) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {job}")


def train_tiny_model(http: httpx.Client) -> tuple[dict, dict]:  # type: ignore[type-arg]
    """Import a small pattern dataset and train TRAINING on it; (the 202 body, the final job)."""
    dataset = http.post(
        "/api/v1/datasets/import",
        files={"file": ("p.zip", pattern_dataset_zip(per_class=8), "application/zip")},
        data={"name": "patterns"},
    )
    assert dataset.status_code == 201, dataset.text
    accepted = http.post("/api/v1/models", json=TRAINING | {"dataset_id": dataset.json()["id"]})
    assert accepted.status_code == 202, accepted.text
    return accepted.json(), wait_for_job(http, accepted.json()["job_id"])


def test_api_container_serves_and_a_worker_container_trains(
    images: dict[str, str], scratch_database: ScratchDatabase, containers: Containers
) -> None:
    port = free_port()
    environment = {
        "TINYMLAAS_DATABASE_URL": scratch_database.url,
        "TINYMLAAS_SECRET_KEY": SECRET_KEY,
        "TINYMLAAS_BROKER_URL": "redis://127.0.0.1:6379/0",
        "TINYMLAAS_CELERY_QUEUE": f"tinymlaas-deploy-{secrets.token_hex(4)}",
    }
    api = containers.run(
        images["api"],
        *("serve", "--host", "127.0.0.1", "--port", str(port)),
        env=environment | {"TINYMLAAS_ADMIN_PASSWORD": ADMIN_PASSWORD},
        name_hint="api",
    )
    worker = containers.run(
        images["worker"], "worker", "--pool", "solo", env=environment, name_hint="worker"
    )
    url = f"http://127.0.0.1:{port}"

    health = wait_for_health(url, api)
    assert health["status"] == "ok"
    assert health["backend"] == "postgresql"
    assert "Database at revision" in containers.logs(api)  # migrations ran before serving

    with httpx.Client(base_url=url, timeout=60) as http:
        token = http.post(
            "/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert token.status_code == 200, token.text
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        accepted, job = train_tiny_model(http)
        assert job["status"] == "succeeded", (job, containers.logs(worker)[-3000:])
        model = http.get(f"/api/v1/models/{accepted['id']}").json()
        assert model["status"] == "succeeded"
        assert len(model["history"]) == 2
    # The worker container ran it (the API image cannot: it has no TensorFlow).
    assert "tinymlaas.run_job" in containers.logs(worker)
