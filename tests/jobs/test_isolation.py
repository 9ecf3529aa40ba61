"""The API process never imports TensorFlow: ML runs only in worker processes."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import ADMIN_PASSWORD
from support.factories import pattern_dataset_zip
from support.jobs import wait_for_job

pytestmark = pytest.mark.slow


def mapped_files(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found


def test_the_api_process_never_loads_tensorflow(tmp_path: Path) -> None:
    port = 18000 + secrets.randbelow(2000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYMLAAS_")}
    env |= {"TINYMLAAS_DATA_DIR": str(tmp_path), "TINYMLAAS_ADMIN_PASSWORD": ADMIN_PASSWORD}
    server = subprocess.Popen(
        [sys.executable, "-m", "tinymlaas", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        token = httpx.post(
            f"{base}/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
        ).json()["access_token"]
        http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        dataset = http.post(
            "/datasets/import",
            files={"file": ("p.zip", pattern_dataset_zip(per_class=8), "application/zip")},
            data={"name": "patterns"},
        ).json()
        accepted = http.post(
            "/models",
            json={
                "name": "t",
                "dataset_id": dataset["id"],
                "architecture": "cnn-small",
                "input_width": 16,
                "input_height": 16,
                "epochs": 1,
                "batch_size": 8,
            },
        ).json()
        assert wait_for_job(http, accepted["job_id"], timeout=120)["status"] == "succeeded"
        compiling = http.post(f"/models/{accepted['id']}/compile", json={"board": "virtual"}).json()
        assert wait_for_job(http, compiling["job_id"], timeout=120)["status"] == "succeeded"

        assert "tensorflow" not in mapped_files(server.pid)
        workers = children(server.pid)
        assert workers, "serve started no local worker"
        assert any("tensorflow" in mapped_files(pid) for pid in workers)  # the check can see TF
    finally:
        server.terminate()
        server.wait(timeout=30)
