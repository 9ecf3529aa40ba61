"""Starting TinyMLaaS worker processes from tests, as an operator would, and giving them work."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

from fastapi.testclient import TestClient

from tinymlaas.config import Settings

from conftest import SECRET_KEY
from support.factories import pattern_dataset_zip


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYMLAAS_")}
    env |= {
        "TINYMLAAS_DATABASE_URL": str(settings.database_url),
        "TINYMLAAS_SECRET_KEY": SECRET_KEY,
        "TINYMLAAS_DATA_DIR": str(settings.data_dir),
        "TINYMLAAS_JOB_HEARTBEAT_SECONDS": "1",
        "TINYMLAAS_JOB_STALE_SECONDS": "6",
        "TINYMLAAS_JOB_POLL_SECONDS": "0.2",
    }
    return env | extra


def start_worker(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tinymlaas", "worker", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def train(client: TestClient, epochs: int) -> dict:  # type: ignore[type-arg]
    dataset = client.post(
        "/api/v1/datasets/import",
        files={"file": ("p.zip", pattern_dataset_zip(per_class=10), "application/zip")},
        data={"name": f"patterns-{secrets.token_hex(3)}"},
    ).json()
    body = {
        "name": "tiny",
        "dataset_id": dataset["id"],
        "architecture": "cnn-small",
        "alpha": 0.5,
        "input_width": 16,
        "input_height": 16,
        "epochs": epochs,
        "batch_size": 8,
        "seed": 3,
    }
    response = client.post("/api/v1/models", json=body)
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]
