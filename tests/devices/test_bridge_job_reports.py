"""A bridge reports only on jobs sent to its own devices, and no frame it sends ends its
connection: a forged report or a bad PNG is answered with an `error`, and nothing is stored."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from devices.test_port_work_hub import ready_test, receive_type
from devices.test_review_capture import connect
from tinymlaas.models import DeviceTest, Image, JobEvent, User

from conftest import Database
from support.factories import compiled_row, image_bytes
from support.waiting import wait_for

API = "/api/v1"
FEATURES = ["capture", "device_test", "cancel_device_test"]
CAPTURED_AT = "2026-12-01T18:00:00Z"


def with_size(png: bytes, width: int, height: int) -> bytes:
    """The PNG with its header declaring another size (its CRC fixed, its pixels unchanged)."""
    header = b"IHDR" + struct.pack(">II", width, height) + png[24:29]
    return png[:12] + header + struct.pack(">I", zlib.crc32(header)) + png[33:]


def send_frame(ws: Any, job_id: int, index: int, png: bytes | str, size: int = 24) -> None:
    """A capture frame of `png` (text is sent as it is, as if it were base64)."""
    text = png if isinstance(png, str) else base64.b64encode(png).decode()
    ws.send_json(
        {"type": "capture_frame", "job_id": job_id, "index": index, "width": size,
         "height": size, "png": text, "captured_at": CAPTURED_AT}
    )  # fmt: skip


def error_of(ws: Any) -> str:
    return str(receive_type(ws, "error")["detail"])


def still_up(ws: Any) -> None:
    """The connection still answers: a message of no known type gets its `error`."""
    ws.send_json({"type": "are_you_there"})
    assert "are_you_there" in error_of(ws)


class Bridges:
    """Connected bridges, each with one board: its WebSocket and its device."""

    def __init__(self, stack: ExitStack) -> None:
        self.stack = stack

    def connect(self, client: TestClient, port: str) -> tuple[Any, dict[str, Any]]:
        token = client.post(f"{API}/bridges", json={"name": port}).json()["token"]
        ws = self.stack.enter_context(connect(client, token))
        assert ws.receive_json()["type"] == "welcome"
        ws.send_json({"type": "hello", "version": "test", "features": FEATURES})
        board = {"port": port, "serial_number": port, "board": "virtual"}
        ws.send_json({"type": "ports", "ports": [board]})

        def mine() -> list[dict[str, Any]]:
            items = client.get(f"{API}/devices").json()["items"]
            return [device for device in items if device["port"] == port]

        return ws, wait_for(mine, 10, f"the device on {port}")[0]


@pytest.fixture
def bridges() -> Iterator[Bridges]:
    with ExitStack() as stack:
        yield Bridges(stack)


def test_another_users_bridge_cannot_put_frames_into_a_capture_nor_end_it(
    client: TestClient, make_user_client: Callable[[str], TestClient], bridges: Bridges
) -> None:
    ws, device = bridges.connect(client, "/dev/ttyACM0")
    dataset_id = client.post(f"{API}/datasets", json={"name": "pets"}).json()["id"]
    request = {"dataset_id": dataset_id, "folder": "cat", "count": 2, "interval_ms": 0}
    capture = client.post(f"{API}/devices/{device['id']}/capture", json=request)
    assert capture.status_code == 202, capture.text
    job_id = capture.json()["job_id"]
    assert receive_type(ws, "capture")["job_id"] == job_id
    other, _ = bridges.connect(make_user_client("mallory"), "/dev/ttyUSB7")

    send_frame(other, job_id, 0, image_bytes("PNG", size=(24, 24), color=(1, 2, 3)))
    assert error_of(other) == (
        f"capture_frame for job {job_id}: no such job was sent to this bridge; ignored"
    )
    other.send_json({"type": "capture_result", "job_id": job_id, "ok": False, "error": "x"})
    assert f"capture_result for job {job_id}: no such job" in error_of(other)
    still_up(other)
    assert client.get(f"{API}/jobs/{job_id}").json()["status"] == "running"
    assert client.get(f"{API}/datasets/{dataset_id}/images").json()["total"] == 0

    # The capture's own bridge goes on as if nothing happened.
    for index in range(2):
        send_frame(ws, job_id, index, image_bytes("PNG", size=(24, 24), color=(index, 9, 9)))
    ws.send_json({"type": "capture_result", "job_id": job_id, "ok": True, "frames": 2})
    still_up(ws)  # handled in order: the result is in by the time this is answered
    job = client.get(f"{API}/jobs/{job_id}").json()
    assert (job["status"], job["message"]) == ("succeeded", "captured: 2 frames stored in cat")
    assert client.get(f"{API}/datasets/{dataset_id}/images").json()["total"] == 2
    still_up(other)
    # A late report of its own ended job is refused too.
    send_frame(ws, job_id, 2, image_bytes("PNG", size=(24, 24)))
    assert error_of(ws) == f"capture_frame for job {job_id}: the job is no longer running; ignored"


def test_a_second_bridge_cannot_forge_a_device_test_result(
    client: TestClient, database: Database, bridges: Bridges
) -> None:
    ws, device = bridges.connect(client, "/dev/ttyACM0")
    other, _ = bridges.connect(client, "/dev/ttyACM1")  # the same user's other bridge
    with database.factory() as session:
        admin = session.scalars(select(User.id).where(User.username == "admin")).one()
    job_id = ready_test(database, device["id"], compiled_row(database, admin))
    assert receive_type(ws, "device_test")["job_id"] == job_id

    forged = [{"status": "ok", "scores": [127, -128]}] * 2
    other.send_json({"type": "device_test_progress", "job_id": job_id, "done": 2, "total": 2})
    assert f"device_test_progress for job {job_id}: no such job" in error_of(other)
    other.send_json({"type": "device_test_result", "job_id": job_id, "ok": True, "answers": forged})
    assert error_of(other) == (
        f"device_test_result for job {job_id}: no such job was sent to this bridge; ignored"
    )
    still_up(other)
    with database.factory() as session:
        test = session.scalars(select(DeviceTest).where(DeviceTest.job_id == job_id)).one()
        assert (test.stage, test.done, test.answers) == ("sent", 0, None)

    answers = [{"status": "ok", "scores": [-128, 127]}, {"status": "timeout"}]
    ws.send_json({"type": "device_test_result", "job_id": job_id, "ok": True, "answers": answers})
    still_up(ws)  # handled in order: the result is in by the time this is answered
    with database.factory() as session:
        test = session.scalars(select(DeviceTest).where(DeviceTest.job_id == job_id)).one()
        assert (test.stage, test.done) == ("answered", 2)
        assert [answer["status"] for answer in test.answers or []] == ["ok", "timeout"]
    still_up(other)


@pytest.mark.parametrize(
    ("png", "size", "says"),
    [
        # A few hundred bytes declaring 10^10 pixels: Pillow's own bomb error, at the header.
        (with_size(image_bytes("PNG", size=(24, 24)), 100_000, 100_000), 100_000, "limit of"),
        # Within Pillow's limit, but not the size announced: refused before decoding.
        (with_size(image_bytes("PNG", size=(24, 24)), 5000, 5000), 24, "5000×5000, not the"),
        (b"GIF89a not a png at all", 24, "not a PNG"),
        (image_bytes("PNG", size=(24, 24))[:60], 24, "truncated or corrupt"),
        (image_bytes("JPEG", size=(24, 24)), 24, "not a PNG"),
    ],
    ids=["bomb", "other-size", "not-png", "truncated", "jpeg"],
)
def test_a_bad_png_is_refused_and_the_capture_goes_on(
    client: TestClient, database: Database, bridges: Bridges, png: bytes, size: int, says: str
) -> None:
    ws, device = bridges.connect(client, "/dev/ttyACM0")
    dataset_id = client.post(f"{API}/datasets", json={"name": "pets"}).json()["id"]
    request = {"dataset_id": dataset_id, "folder": "cat", "count": 1, "interval_ms": 0}
    job_id = client.post(f"{API}/devices/{device['id']}/capture", json=request).json()["job_id"]
    assert receive_type(ws, "capture")["job_id"] == job_id

    send_frame(ws, job_id, 0, png, size=size)
    detail = error_of(ws)
    assert detail.startswith(f"capture_frame for job {job_id}: frame 0 was not stored: ")
    assert says in detail
    assert client.get(f"{API}/datasets/{dataset_id}/images").json()["total"] == 0
    job = client.get(f"{API}/jobs/{job_id}").json()
    assert (job["status"], job["progress"]) == ("running", 0.0)

    send_frame(ws, job_id, 1, image_bytes("PNG", size=(24, 24)))
    ws.send_json({"type": "capture_result", "job_id": job_id, "ok": True, "frames": 2})
    still_up(ws)
    job = client.get(f"{API}/jobs/{job_id}").json()
    assert (job["status"], job["message"]) == ("succeeded", "captured: 1 frames stored in cat")
    with database.factory() as session:
        images = session.scalars(select(Image.name).where(Image.dataset_id == dataset_id)).all()
        assert [name[-8:] for name in images] == ["0001.png"]
        logs = session.scalars(
            select(JobEvent.data).where(JobEvent.job_id == job_id, JobEvent.type == "log")
        ).all()
        assert [line["line"] for line in logs] == [detail.split(": ", 1)[1]]


def test_a_frame_over_the_byte_limit_is_refused_before_decoding(
    client: TestClient, bridges: Bridges
) -> None:
    settings = client.app.state.settings  # type: ignore[attr-defined]
    ws, device = bridges.connect(client, "/dev/ttyACM0")
    dataset_id = client.post(f"{API}/datasets", json={"name": "pets"}).json()["id"]
    request = {"dataset_id": dataset_id, "folder": "cat", "count": 1, "interval_ms": 0}
    job_id = client.post(f"{API}/devices/{device['id']}/capture", json=request).json()["job_id"]
    assert receive_type(ws, "capture")["job_id"] == job_id
    limit = settings.max_capture_frame_bytes
    for index, size in enumerate((limit + 1, 2 * limit)):  # decoded, then not even decoded
        send_frame(ws, job_id, index, bytes(size))
        assert error_of(ws) == (
            f"capture_frame for job {job_id}: frame {index} was not stored:"
            f" the PNG is over {limit:,} bytes"
        )
    send_frame(ws, job_id, 2, "not base64!")
    assert error_of(ws).endswith("frame 2 was not stored: the PNG is not base64")
    still_up(ws)


def test_a_message_the_server_fails_on_is_answered_and_the_connection_stays(
    client: TestClient, database: Database, bridges: Bridges
) -> None:
    ws, device = bridges.connect(client, "/dev/ttyACM0")
    with database.factory() as session:
        admin = session.scalars(select(User.id).where(User.username == "admin")).one()
    job_id = ready_test(database, device["id"], compiled_row(database, admin))
    assert receive_type(ws, "device_test")["job_id"] == job_id
    answers = [{"status": "ok", "scores": [-128, 127]}, {"status": "timeout"}]
    result = {"type": "device_test_result", "job_id": job_id, "ok": True, "answers": answers}

    ws.send_json(result | {"bytes_sent": 2**70})  # valid JSON no database column can hold
    assert error_of(ws) == "device_test_result: the server failed to handle it; ignored"
    with database.factory() as session:
        test = session.scalars(select(DeviceTest).where(DeviceTest.job_id == job_id)).one()
        assert (test.stage, test.answers) == ("sent", None)  # nothing of it stored

    ws.send_json(result | {"bytes_sent": 1000})
    still_up(ws)
    with database.factory() as session:
        test = session.scalars(select(DeviceTest).where(DeviceTest.job_id == job_id)).one()
        assert (test.stage, test.bytes_sent) == ("answered", 1000)


def test_another_users_bridge_cannot_log_into_or_end_an_install(
    client: TestClient,
    database: Database,
    make_user_client: Callable[[str], TestClient],
    bridges: Bridges,
) -> None:
    me = client.get(f"{API}/users/me").json()["id"]
    ws, device = bridges.connect(client, "/dev/ttyACM0")
    other, _ = bridges.connect(make_user_client("mallory"), "/dev/ttyUSB7")
    url = f"{API}/devices/{device['id']}/install"
    install = client.post(url, json={"compiled_id": compiled_row(database, me)})
    assert install.status_code == 202, install.text
    job_id = install.json()["job_id"]
    assert receive_type(ws, "install")["job_id"] == job_id
    before = client.get(f"{API}/jobs/{job_id}").json()
    assert before["status"] == "running"

    other.send_json({"type": "install_log", "job_id": job_id, "line": "pwned"})
    assert f"install_log for job {job_id}: no such job" in error_of(other)
    other.send_json({"type": "install_result", "job_id": job_id, "ok": False, "output": "x"})
    assert f"install_result for job {job_id}: no such job" in error_of(other)
    still_up(other)
    assert client.get(f"{API}/jobs/{job_id}").json() == before

    ws.send_json({"type": "install_log", "job_id": job_id, "line": "Upload 100%"})
    ws.send_json({"type": "install_result", "job_id": job_id, "ok": True, "output": "done"})
    still_up(ws)
    assert client.get(f"{API}/jobs/{job_id}").json()["status"] == "succeeded"
    still_up(other)
