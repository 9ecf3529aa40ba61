"""Cancelling a running install end to end: API → hub → a real bridge process → arduino-cli.

The bridge runs as its own process with one board on a "USB" port (usb_board_bridge.py) and
the stand-in arduino-cli first on its PATH, configured to hang in compile or upload.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from devices.conftest import FakeCli, library_zip, process_running
from devices.usb_board_bridge import SERIAL_NUMBER
from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.db.session import transaction
from tinymlaas.devices.bridge.install import BOARD_UNTOUCHED, BOARD_UPLOAD_INTERRUPTED
from tinymlaas.models import CompiledFile, Installation, JobEvent

from conftest import Database
from support.factories import compiled_row
from support.jobs import finished, get_job, wait_for_job
from support.processes import stop
from support.waiting import wait_for

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)
BRIDGE_SCRIPT = Path(__file__).with_name("usb_board_bridge.py")


@dataclass
class Bench:
    """A running bridge process, its board's device id and a model compiled with its library."""

    process: subprocess.Popen[bytes]
    log: Path
    device_id: int
    compiled_id: int

    def bridge_log(self) -> str:
        return self.log.read_text(errors="replace")


def compiled_for_arduino(database: Database, owner_id: int) -> int:
    """A finished compiled model that also holds the Arduino library arduino-cli is given."""
    compiled_id = compiled_row(database, owner_id, board="nano33ble")
    with transaction(database.factory) as session:
        blob = DatabaseBlobStore(session).put(library_zip())
        session.add(
            CompiledFile(
                compiled_id=compiled_id,
                name="arduino_library.zip",
                content_type="application/zip",
                size_bytes=blob.size_bytes,
                sha256=blob.sha256,
            )
        )
    return compiled_id


@pytest.fixture
def bench(
    api: httpx.Client, server_url: str, database: Database, fake_cli: FakeCli, tmp_path: Path
) -> Iterator[Bench]:
    token = api.post("/bridges", json={"name": "usb bench"}).json()["token"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYMLAAS_")}
    env["PATH"] = f"{fake_cli.root}{os.pathsep}{env.get('PATH', '')}"
    log = tmp_path / "bridge.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, str(BRIDGE_SCRIPT), server_url, token],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        device = wait_for(
            lambda: [
                d
                for d in api.get("/devices").json()["items"]
                if d["serial_number"] == SERIAL_NUMBER and d["status"] == "online"
            ],
            30,
            "the bridge's USB board coming online",
        )[0]
        assert device["board"] == "nano33ble"
        me = api.get("/users/me").json()["id"]
        yield Bench(process, log, device["id"], compiled_for_arduino(database, me))
    finally:
        stop(process)


def install(api: httpx.Client, bench: Bench) -> int:
    accepted = api.post(
        f"/devices/{bench.device_id}/install", json={"compiled_id": bench.compiled_id}
    )
    assert accepted.status_code == 202, accepted.text
    return int(accepted.json()["job_id"])


def hung(api: httpx.Client, bench: Bench, fake_cli: FakeCli, job_id: int) -> dict[str, int] | None:
    """The hanging arduino-cli's process ids; fails at once if the install ended instead."""
    job = get_job(api, job_id)
    assert not finished(job), f"the install ended instead of hanging: {job}\n{bench.bridge_log()}"
    return fake_cli.hanging()


def installation_output(database: Database, job_id: int) -> str:
    with database.factory() as session:
        return session.scalars(
            select(Installation.output).where(Installation.job_id == job_id)
        ).one()


def state_events(database: Database, job_id: int) -> list[dict[str, Any]]:
    with database.factory() as session:
        rows = session.scalars(
            select(JobEvent.data)
            .where(JobEvent.job_id == job_id, JobEvent.type == "state")
            .order_by(JobEvent.id)
        )
        return list(rows)


@pytest.mark.parametrize(
    ("step", "device_state"),
    [("compile", BOARD_UNTOUCHED), ("upload", BOARD_UPLOAD_INTERRUPTED)],
    ids=["compile", "upload"],
)
def test_cancelling_a_running_install_stops_arduino_cli_and_the_bridge_carries_on(
    api: httpx.Client,
    bench: Bench,
    fake_cli: FakeCli,
    database: Database,
    step: str,
    device_state: str,
) -> None:
    fake_cli.configure(hang=step)
    job_id = install(api, bench)
    hanging = wait_for(lambda: hung(api, bench, fake_cli, job_id), 30, f"a hang in {step}")
    assert api.get(f"/devices/{bench.device_id}").json()["status"] == "busy"

    cancelled_at = time.monotonic()
    answer = api.post(f"/jobs/{job_id}/cancel")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["message"]) == ("running", "cancelling…")
    job = wait_for_job(api, job_id, 15)
    took = time.monotonic() - cancelled_at
    assert (job["status"], job["message"], job["error"]) == (
        "cancelled",
        f"cancelled: {device_state}",
        None,
    ), bench.bridge_log()
    assert took < 5, f"the install took {took:.1f} s to stop"
    assert {
        "status": "running",
        "cancelling": True,
        "message": "cancelling: the bridge was asked to stop the installer",
    } in state_events(database, job_id)

    wait_for(lambda: not process_running(hanging["cli"]), 5, "arduino-cli ending")
    wait_for(lambda: not process_running(hanging["child"]), 5, "arduino-cli's child ending")
    output = installation_output(database, job_id).splitlines()
    assert output[-2:] == [
        f"arduino-cli {step} was stopped (exit status -15): the install was cancelled",
        f"install cancelled: {device_state}",
    ]
    device = api.get(f"/devices/{bench.device_id}").json()
    assert (device["status"], device["installed"]) == ("online", None)

    # The bridge is still there and installs again.
    assert bench.process.poll() is None, bench.bridge_log()
    assert api.get("/bridges").json()["items"][0]["status"] == "online"
    fake_cli.configure()
    job_id = install(api, bench)
    job = wait_for_job(api, job_id, 30)
    assert (job["status"], job["message"]) == ("succeeded", "installed"), bench.bridge_log()
    assert "Upload complete" in installation_output(database, job_id).splitlines()
    device = api.get(f"/devices/{bench.device_id}").json()
    assert device["installed"]["compiled_id"] == bench.compiled_id
