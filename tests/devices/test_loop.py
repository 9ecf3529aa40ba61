"""The whole loop: bridge up → device online → install → predictions stored → bridge killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.factories import pattern_camera
from support.jobs import wait_for_job
from support.models import train_and_compile
from support.waiting import wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True),
]
CLASSES = ["bright", "dark", "left"]


@pytest.fixture
def compiled_id(api: httpx.Client, local_worker: None) -> int:
    """A tiny model trained on the pattern classes and compiled for the virtual board."""
    return train_and_compile(api)


@pytest.fixture
def camera(tmp_path: Path) -> Path:
    """What the virtual boards' cameras see: new images of each class, in class folders."""
    return pattern_camera(tmp_path / "camera", per_class=4, seed=50_000)


def start_bridge(server_url: str, token: str, camera: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYMLAAS_")}
    command = [
        sys.executable, "-m", "tinymlaas", "bridge",
        "--server", server_url,
        "--token", token,
        "--name", "test bench",
        "--virtual-devices", "1",
        "--virtual-camera", str(camera),
        "--interval", "0.05",
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def online_device(api: httpx.Client) -> dict[str, Any]:
    """The first device the bridge reports online and whose HELLO has been recorded (within
    30 s): the bridge lists the port first, the board's HELLO line follows in another message."""
    online = wait_for(
        lambda: [
            d
            for d in api.get("/devices").json()["items"]
            if d["status"] == "online" and d["running_model_id"] is not None
        ],
        30,
        "the virtual device coming online and saying HELLO",
    )
    device: dict[str, Any] = online[0]
    return device


def test_virtual_device_loop(
    api: httpx.Client, server_url: str, compiled_id: int, camera: Path
) -> None:
    bridge = api.post("/bridges", json={"name": "test bench"}).json()
    process = start_bridge(server_url, bridge["token"], camera)
    try:
        device = online_device(api)
        assert device["board"] == "virtual"
        assert device["serial_number"] == "TMLVIRT-0"
        assert device["running_model_id"] == "none"

        install = api.post(f"/devices/{device['id']}/install", json={"compiled_id": compiled_id})
        assert install.status_code == 202, install.text
        job = wait_for_job(api, install.json()["job_id"], 60)
        assert job["status"] == "succeeded", job
        manifest_sha = next(
            f["sha256"]
            for f in api.get(f"/compiled/{compiled_id}/files").json()["items"]
            if f["name"] == "manifest.json"
        )
        device = wait_for(
            lambda: (
                (d := api.get(f"/devices/{device['id']}").json())["running_model_id"]
                == manifest_sha
                and d
            ),
            30,
            "the device announcing the new model",
        )
        assert device["installed"]["compiled_id"] == compiled_id

        url = f"/devices/{device['id']}/observations"
        observations = wait_for(
            lambda: [
                o for o in api.get(url, params={"limit": 200}).json()["items"]
                if o["compiled_id"] == compiled_id
            ],
            60,
            "predictions of the installed model",
        )  # fmt: skip
        observations = wait_for(
            lambda: (rows := [
                o for o in api.get(url, params={"limit": 200}).json()["items"]
                if o["compiled_id"] == compiled_id
            ]) and len(rows) >= 12 and rows,
            60,
            "a dozen predictions",
        )  # fmt: skip
        for observation in observations:
            assert set(observation["scores"]) == set(CLASSES)
            assert abs(sum(observation["scores"].values()) - 1) < 0.02
            assert observation["latency_ms"] > 0
        correct = sum(o["label"] == o["source"].split("/")[0] for o in observations)
        assert correct / len(observations) >= 0.8, observations

        with httpx.stream(
            "GET",
            f"{server_url}/api/v1/devices/{device['id']}/observe",
            headers=api.headers,
            timeout=30,
        ) as stream:
            events = []
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line.removeprefix("data: ")))
                if len(events) == 2:
                    break
        assert all(e["device_id"] == device["id"] for e in events)
        assert events[1]["id"] > events[0]["id"] > observations[-1]["id"] - 1000

        process.send_signal(signal.SIGKILL)
        process.wait()
        killed = time.monotonic()
        wait_for(
            lambda: api.get(f"/devices/{device['id']}").json()["status"] == "offline",
            30,
            "the device going offline",
        )
        assert time.monotonic() - killed < 30
        assert api.get("/bridges").json()["items"][0]["status"] == "offline"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_a_c_engine_model_installed_through_the_hub_runs_on_the_virtual_device(
    api: httpx.Client, server_url: str, local_worker: None, camera: Path
) -> None:
    compiled_id = train_and_compile(api, engine="c")
    bridge = api.post("/bridges", json={"name": "test bench"}).json()
    process = start_bridge(server_url, bridge["token"], camera)
    try:
        device = online_device(api)
        install = api.post(f"/devices/{device['id']}/install", json={"compiled_id": compiled_id})
        assert install.status_code == 202, install.text
        job = wait_for_job(api, install.json()["job_id"], 120)
        assert job["status"] == "succeeded", job
        # The manifest says engine "c": the device runs the generated C, or refuses the install.
        url = f"/devices/{device['id']}/observations"
        observations = wait_for(
            lambda: (rows := [
                o for o in api.get(url, params={"limit": 200}).json()["items"]
                if o["compiled_id"] == compiled_id
            ]) and len(rows) >= 12 and rows,
            60,
            "a dozen predictions of the C engine",
        )  # fmt: skip
        correct = sum(o["label"] == o["source"].split("/")[0] for o in observations)
        assert correct / len(observations) >= 0.8, observations
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_a_bridge_with_a_revoked_token_stops(
    server_url: str, api: httpx.Client, camera: Path
) -> None:
    bridge = api.post("/bridges", json={"name": "b"}).json()
    api.delete(f"/bridges/{bridge['id']}")
    process = start_bridge(server_url, bridge["token"], camera)
    try:
        assert process.wait(timeout=60) == 2
        assert b"refused this bridge's token" in (process.stderr.read() if process.stderr else b"")
    finally:
        if process.poll() is None:
            process.kill()
