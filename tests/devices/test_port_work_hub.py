"""The hub and a device test over the bridge WebSocket: an install waits for the test's port,
and a cancel reaches a bridge that can stop the test."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from devices.test_review_capture import PORT, connect
from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.db.session import transaction
from tinymlaas.models import Device, DeviceTest, Job, User

from conftest import Database
from support.factories import compiled_row
from support.waiting import wait_for

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)
API = "/api/v1"
FEATURES = ["device_test", "cancel_device_test"]


def ready_test(database: Database, device_id: int, compiled_id: int) -> int:
    """A prepared test of two 256-byte tensors on the device, as the worker leaves it: its job."""
    with transaction(database.factory) as session:
        device = session.get_one(Device, device_id)
        device.installed_compiled_id = compiled_id
        job = Job(owner_id=device.owner_id, kind="device_test", status="running")
        session.add(job)
        session.flush()
        session.add(
            DeviceTest(
                owner_id=device.owner_id, device_id=device_id, compiled_id=compiled_id,
                job_id=job.id, split="validation", stage="ready", image_ids=[1, 2],
                labels=[0, 1], done=0, input_bytes=256, host=[[1, 0], [0, 1]],
                inputs_sha256=DatabaseBlobStore(session).put(bytes(512)).sha256,
            )
        )  # fmt: skip
        return job.id


def receive_type(ws: Any, kind: str) -> dict[str, Any]:
    """The next message of that type (pings and others skipped)."""
    while True:
        message: dict[str, Any] = ws.receive_json()
        if message["type"] == kind:
            return message


def test_an_install_waits_for_a_test_and_a_cancel_stops_the_test_on_the_bridge(
    client: TestClient, database: Database
) -> None:
    token = client.post(f"{API}/bridges", json={"name": "b"}).json()["token"]
    with database.factory() as session:
        admin = session.scalars(select(User.id).where(User.username == "admin")).one()
    compiled_id = compiled_row(database, admin)
    with connect(client, token) as ws:
        assert ws.receive_json()["type"] == "welcome"
        ws.send_json({"type": "hello", "version": "test", "features": FEATURES})
        ws.send_json(
            {"type": "ports", "ports": [{"port": PORT, "serial_number": "S", "board": "virtual"}]}
        )
        device = wait_for(lambda: client.get(f"{API}/devices").json()["items"], 10, "device")[0]
        test_job = ready_test(database, device["id"], compiled_id)
        assert receive_type(ws, "device_test")["job_id"] == test_job
        assert client.get(f"{API}/devices/{device['id']}").json()["status"] == "busy"

        url = f"{API}/devices/{device['id']}/install"
        install = client.post(url, json={"compiled_id": compiled_id})
        assert install.status_code == 202, install.text
        install_job = install.json()["job_id"]
        waiting = wait_for(
            lambda: "busy" in client.get(f"{API}/jobs/{install_job}").json()["message"],
            10,
            "the install saying it waits",
        )
        assert waiting
        job = client.get(f"{API}/jobs/{install_job}").json()
        assert job["status"] == "queued"
        assert f"busy with a device test (job {test_job})" in job["message"]

        assert client.post(f"{API}/jobs/{test_job}/cancel").status_code in (200, 202)
        assert receive_type(ws, "cancel_device_test") == {
            "type": "cancel_device_test", "job_id": test_job,
        }  # fmt: skip
        ws.send_json(
            {"type": "device_test_result", "job_id": test_job, "ok": False,
             "error": "cancelled", "cancelled": True, "answered": 1}
        )  # fmt: skip
        # The port is free: the install goes out now.
        assert receive_type(ws, "install")["job_id"] == install_job
        job = client.get(f"{API}/jobs/{test_job}").json()
        assert job["status"] == "cancelled"
        assert job["message"] == "cancelled: 1 of 2 images answered by the board"
