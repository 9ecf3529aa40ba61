"""Horizontal: two API processes on different ports, one PostgreSQL database, the same users.

A bridge connected to one process; the other shows its device, follows its predictions live
and sends it an install. Only the database crosses between them.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from websockets.sync.client import ClientConnection, connect

from tinymlaas.config import Settings
from tinymlaas.devices import messages

from conftest import ADMIN_PASSWORD, Database
from support.factories import compiled_row
from support.processes import stop, worker_env
from support.waiting import wait_for

pytestmark = [
    pytest.mark.parametrize("migrated_database", ["postgresql"], indirect=True),
    pytest.mark.slow,  # two server processes
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(settings: Settings) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = worker_env(settings, TINYMLAAS_LOCAL_WORKERS="0", TINYMLAAS_ADMIN_PASSWORD=ADMIN_PASSWORD)
    process = subprocess.Popen(
        [sys.executable, "-m", "tinymlaas", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api/v1"

    def up() -> bool:
        assert process.poll() is None, "the server exited"
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, 60, f"the server on port {port}")
    return process, url


@pytest.fixture
def servers(client: TestClient, settings: Settings) -> Iterator[tuple[str, str]]:
    """Two serving processes on the test's database (whose admin `client` created)."""
    first, first_url = serve(settings)
    try:
        second, second_url = serve(settings)
        try:
            yield first_url, second_url
        finally:
            stop(second)
    finally:
        stop(first)


def follow(url: str, headers: dict[str, str], seen: list[dict[str, Any]]) -> None:
    with httpx.stream("GET", url, headers=headers, timeout=30) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
                if len(seen) == 3:
                    return


def receive(bridge: ClientConnection) -> messages.ServerMessage:
    return messages.parse_server_message(bridge.recv(timeout=20))


def test_a_bridge_on_one_process_is_seen_followed_and_installed_through_the_other(
    servers: tuple[str, str], database: Database
) -> None:
    near, far = servers  # the bridge connects to `near`; the user works on `far`
    login = {"username": "admin", "password": ADMIN_PASSWORD}
    token = httpx.post(f"{near}/auth/token", data=login).json()["access_token"]
    user = httpx.Client(base_url=far, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    bridge_token = user.post("/bridges", json={"name": "lab"}).json()["token"]
    websocket = near.replace("http://", "ws://") + "/bridges/connect"
    with connect(websocket, additional_headers={"Authorization": f"Bearer {bridge_token}"}) as ws:
        assert isinstance(receive(ws), messages.Welcome)
        ws.send(messages.encode(messages.Hello(name="lab", features=[messages.CANCEL_INSTALL])))
        port = messages.Port(port="/dev/v0", serial_number="V0", board="virtual", virtual=True)
        ws.send(messages.encode(messages.Ports(ports=[port])))
        device = wait_for(
            lambda: [d for d in user.get("/devices").json()["items"] if d["status"] == "online"],
            20,
            "the device online on the other process",
        )[0]

        seen: list[dict[str, Any]] = []
        observe = f"{far}/devices/{device['id']}/observe"
        headers = dict(user.headers) | {"Last-Event-ID": "0"}  # from the device's first one
        watcher = threading.Thread(target=follow, args=(observe, headers, seen), daemon=True)
        watcher.start()
        for seq in range(3):
            prediction = messages.Prediction(port="/dev/v0", seq=seq, label="cat", scores={})
            ws.send(messages.encode(prediction))
        watcher.join(timeout=20)
        assert [row["seq"] for row in seen] == [0, 1, 2]

        compiled_id = compiled_row(database, user.get("/users/me").json()["id"])
        accepted = user.post(f"/devices/{device['id']}/install", json={"compiled_id": compiled_id})
        assert accepted.status_code == 202, accepted.text
        install = receive(ws)
        assert isinstance(install, messages.Install)
        assert (install.job_id, install.port) == (accepted.json()["job_id"], "/dev/v0")
        result = messages.InstallResult(job_id=install.job_id, ok=True, output="flashed")
        ws.send(messages.encode(result))
        job = wait_for(
            lambda: (
                (j := user.get(f"/jobs/{install.job_id}").json())["status"] == "succeeded" and j
            ),
            20,
            "the install job succeeded, seen from the other process",
        )
    assert job["message"] == "installed"
    installed = user.get(f"/devices/{device['id']}").json()["installed"]
    assert installed["compiled_id"] == compiled_id
