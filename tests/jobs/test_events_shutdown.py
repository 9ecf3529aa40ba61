"""Stopping `tinymlaas serve` while a page follows a job's event stream ends the stream
properly: the server logs no ASGI error or traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from support.factories import pattern_dataset_zip

PASSWORD = "shutdown-test-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYMLAAS_")}
    env |= {
        "TINYMLAAS_DATA_DIR": str(data_dir),
        "TINYMLAAS_SECRET_KEY": "shutdown-test-secret-" + "x" * 32,
        "TINYMLAAS_ADMIN_USERNAME": "admin",
        "TINYMLAAS_ADMIN_PASSWORD": PASSWORD,
        "TINYMLAAS_LOCAL_WORKERS": "0",  # the job stays queued: its stream stays open
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tinymlaas", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not start")


def queued_job(url: str) -> tuple[int, dict[str, str]]:
    token = httpx.post(
        f"{url}/api/v1/auth/token", data={"username": "admin", "password": PASSWORD}
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    dataset = httpx.post(
        f"{url}/api/v1/datasets/import",
        headers=auth,
        files={"file": ("p.zip", pattern_dataset_zip(per_class=3), "application/zip")},
        data={"name": "p"},
    ).json()
    model = httpx.post(
        f"{url}/api/v1/models",
        headers=auth,
        json={"name": "m", "dataset_id": dataset["id"], "architecture": "cnn-small"},
    ).json()
    return model["job_id"], auth


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_server_with_a_stream_open_logs_no_error(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(tmp_path / "data", port)
    try:
        wait_until_up(url)
        job_id, auth = queued_job(url)
        received: list[str] = []
        streaming = threading.Event()

        def follow() -> None:
            try:
                with httpx.stream(
                    "GET", f"{url}/api/v1/jobs/{job_id}/events", headers=auth, timeout=30
                ) as response:
                    for line in response.iter_lines():
                        received.append(line)
                        streaming.set()
            except httpx.HTTPError as exc:
                received.append(f"error: {exc!r}")

        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        assert streaming.wait(20), "the stream sent nothing"
        server.send_signal(stop_signal)
        _, errors = server.communicate(timeout=60)
        reader.join(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert "Shutting down" in errors
    for sign in ("ASGI", "Traceback", "Exception in"):
        assert sign not in errors, errors
    assert "event: state" in received
    assert not any(line.startswith("error:") for line in received), received
