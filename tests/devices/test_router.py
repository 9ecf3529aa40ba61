"""Bridges, devices, installs and observations through the API and the bridge WebSocket."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from tinymlaas.db.base import utcnow
from tinymlaas.models import Job, JobEvent

from support.factories import compiled_row
from support.jobs import get_job, wait_for_job
from support.waiting import wait_for

API = "/api/v1"


def connect(client: TestClient, token: str) -> Any:
    return client.websocket_connect(
        f"{API}/bridges/connect", headers={"Authorization": f"Bearer {token}"}
    )


def report(ws: WebSocketTestSession, *ports: str, board: str = "virtual") -> None:
    """The bridge reports boards on these ports: virtual ones unless `board` says otherwise."""
    ws.send_json(
        {
            "type": "ports",
            "ports": [
                {
                    "port": port,
                    "serial_number": f"SN-{port}",
                    "vid": None,
                    "pid": None,
                    "description": f"board on {port}",
                    "board": board,
                    "virtual": board == "virtual",
                }
                for port in ports
            ],
        }
    )


def ended(client: TestClient, job_id: int) -> dict[str, Any]:
    """The job once it is no longer running."""
    return wait_for_job(client, job_id, 10, lambda job: job["status"] != "running", "ending")


def devices(client: TestClient) -> list[dict[str, Any]]:
    return client.get(f"{API}/devices").json()["items"]  # type: ignore[no-any-return]


def test_bridge_token_is_shown_once_and_revocable(client: TestClient) -> None:
    created = client.post(f"{API}/bridges", json={"name": "lab bench"})
    assert created.status_code == 201
    body = created.json()
    assert body["token"].startswith("tmlb_")
    assert f"--token {body['token']}" in body["command"]
    listed = client.get(f"{API}/bridges").json()["items"]
    assert listed == [
        {k: v for k, v in body.items() if k not in ("token", "command")} | {"status": "offline"}
    ]
    assert "token" not in listed[0]
    assert client.delete(f"{API}/bridges/{body['id']}").status_code == 204
    with pytest.raises(WebSocketDisconnect), connect(client, body["token"]) as ws:
        ws.receive_json()


def test_a_bridge_needs_a_name_that_is_not_blank(client: TestClient) -> None:
    response = client.post(f"{API}/bridges", json={"name": "   "})
    assert response.status_code == 400
    assert response.json()["detail"] == "give the bridge a name, e.g. the computer's name"
    assert client.get(f"{API}/bridges").json()["total"] == 0


def test_a_bad_token_is_refused(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect), connect(client, "tmlb_not-a-real-token") as ws:
        ws.receive_json()


def test_devices_come_online_report_predictions_and_go_offline(client: TestClient) -> None:
    token = client.post(f"{API}/bridges", json={"name": "b"}).json()["token"]
    with connect(client, token) as ws:
        assert ws.receive_json()["type"] == "welcome"
        ws.send_json({"type": "hello", "hostname": "lab-pc", "version": "test"})
        report(ws, "/dev/pts/7")
        device = wait_for(lambda: devices(client), 10, "the device reported")[0]
        assert device["status"] == "online"
        assert device["board"] == "virtual"
        assert device["serial_number"] == "SN-/dev/pts/7"
        bridge = client.get(f"{API}/bridges").json()["items"][0]
        assert (bridge["status"], bridge["hostname"]) == ("online", "lab-pc")

        ws.send_json(
            {
                "type": "prediction",
                "port": "/dev/pts/7",
                "seq": 1,
                "label": "cat",
                "scores": {"cat": 0.9, "dog": 0.1},
                "latency_ms": 12.5,
                "source": "cat/1.png",
            }
        )
        url = f"{API}/devices/{device['id']}/observations"
        observations = wait_for(lambda: client.get(url).json()["items"], 10, "an observation")
        assert observations[0]["label"] == "cat"
        assert observations[0]["scores"] == {"cat": 0.9, "dog": 0.1}
        assert observations[0]["source"] == "cat/1.png"
        assert observations[0]["compiled_id"] is None  # nothing installed through us

        report(ws)  # unplugged
        wait_for(lambda: devices(client)[0]["status"] == "offline", 10, "the device offline")
        report(ws, "/dev/pts/7")  # plugged back: the same device, not a new one
        wait_for(lambda: devices(client)[0]["status"] == "online", 10, "the device online")
        assert len(devices(client)) == 1
    wait_for(lambda: devices(client)[0]["status"] == "offline", 10, "the device offline")
    assert client.get(f"{API}/bridges").json()["items"][0]["status"] == "offline"


def test_a_silent_bridge_counts_as_offline(client: TestClient, database: Any) -> None:
    from tinymlaas.models import Bridge

    token = client.post(f"{API}/bridges", json={"name": "b"}).json()["token"]
    with connect(client, token) as ws:
        ws.receive_json()
        report(ws, "/dev/ttyACM0")
        wait_for(lambda: devices(client), 10, "the device reported")
        with database.factory.begin() as session:
            old = utcnow().replace(year=2000)
            session.execute(update(Bridge).values(last_seen=old))
        assert devices(client)[0]["status"] == "offline"


def test_install_goes_to_the_bridge_and_reports_its_output(
    client: TestClient, database: Any
) -> None:
    me = client.get(f"{API}/users/me").json()["id"]
    compiled_id = compiled_row(database, me)
    token = client.post(f"{API}/bridges", json={"name": "b"}).json()["token"]
    with connect(client, token) as ws:
        ws.receive_json()
        report(ws, "/dev/pts/3")
        device = wait_for(lambda: devices(client), 10, "the device reported")[0]

        accepted = client.post(
            f"{API}/devices/{device['id']}/install", json={"compiled_id": compiled_id}
        )
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        command = ws.receive_json()
        assert command["type"] == "install"
        assert (command["job_id"], command["port"], command["board"]) == (
            job_id,
            "/dev/pts/3",
            "virtual",
        )
        assert set(command["files"]) == {"model.tflite", "manifest.json"}
        assert devices(client)[0]["status"] == "busy"
        ws.send_json({"type": "install_log", "job_id": job_id, "line": "flashing 42%"})
        ws.send_json({"type": "install_result", "job_id": job_id, "ok": True, "output": "done\n"})
        job = ended(client, job_id)
        assert job["status"] == "succeeded"
        device = devices(client)[0]
        assert device["status"] == "online"
        assert device["installed"]["compiled_id"] == compiled_id

        failing = client.post(
            f"{API}/devices/{device['id']}/install", json={"compiled_id": compiled_id}
        ).json()
        ws.receive_json()
        output = 'avrdude: ser_open(): can\'t open device "/dev/pts/3"\nupload failed'
        ws.send_json(
            {"type": "install_result", "job_id": failing["job_id"], "ok": False, "output": output}
        )
        job = ended(client, failing["job_id"])
        assert job["status"] == "failed"
        assert "can't open device" in job["error"]

        dropped = client.post(
            f"{API}/devices/{device['id']}/install", json={"compiled_id": compiled_id}
        ).json()
        ws.receive_json()
    # the bridge went away in the middle of that install
    job = ended(client, dropped["job_id"])
    assert job["status"] == "failed"
    assert "bridge disconnected" in job["error"]


def test_install_refuses_models_that_do_not_fit_or_offline_devices(
    client: TestClient, database: Any
) -> None:
    me = client.get(f"{API}/users/me").json()["id"]
    huge = compiled_row(database, me, arena_bytes=900_000, tflite_bytes=200_000)
    token = client.post(f"{API}/bridges", json={"name": "b"}).json()["token"]
    with connect(client, token) as ws:
        ws.receive_json()
        report(ws, "/dev/ttyACM0")
        device = wait_for(lambda: devices(client), 10, "the device reported")[0]
        client.patch(f"{API}/devices/{device['id']}", json={"board": "nano33ble"})
        refused = client.post(f"{API}/devices/{device['id']}/install", json={"compiled_id": huge})
        assert refused.status_code == 409
        body = refused.json()
        assert "does not fit Arduino Nano 33 BLE" in body["detail"]
        assert body["ram"]["limit_bytes"] == 256 * 1024
        assert body["ram"]["estimate_bytes"] > body["ram"]["limit_bytes"]
        bad_board = client.patch(f"{API}/devices/{device['id']}", json={"board": "toaster"})
        assert bad_board.status_code == 400
    small = compiled_row(database, me)
    wait_for(lambda: devices(client)[0]["status"] == "offline", 10, "the device offline")
    offline = client.post(f"{API}/devices/{device['id']}/install", json={"compiled_id": small})
    assert offline.status_code == 409
    assert "offline" in offline.json()["detail"]
    with database.factory() as session:
        assert session.query(Job).filter(Job.kind == "install").count() == 0


def test_a_model_compiled_for_another_board_is_refused_unless_forced(
    client: TestClient, database: Any
) -> None:
    me = client.get(f"{API}/users/me").json()["id"]
    for_s3 = compiled_row(database, me, board="esp32-s3-eye")
    token = client.post(f"{API}/bridges", json={"name": "b"}).json()["token"]
    with connect(client, token) as ws:
        ws.receive_json()
        report(ws, "/dev/ttyACM0", board="nano33ble")
        device = wait_for(lambda: devices(client), 10, "the device reported")[0]
        install = f"{API}/devices/{device['id']}/install"

        check = client.get(f"{install}-check", params={"compiled_id": for_s3}).json()
        refused = client.post(install, json={"compiled_id": for_s3})

        detail = (
            f"compiled model {for_s3} was compiled for Espressif ESP32-S3-EYE (ESP32-S3, 8 MB"
            f" flash, 8 MB octal PSRAM) (esp32-s3-eye), but device {device['id']}'s board is"
            " Arduino Nano 33 BLE (Sense) (nano33ble): compile the model for nano33ble, or force"
            " the install"
        )
        assert refused.status_code == 409
        assert refused.json()["detail"] == detail
        assert (refused.json()["compiled_board"], refused.json()["device_board"]) == (
            "esp32-s3-eye",
            "nano33ble",
        )
        assert (check["allowed"], check["problem"], check["reason"]) == (
            False,
            "other_board",
            detail,
        )
        assert check["fits"] is True
        assert check["fit_detail"]["board"] == "nano33ble"
        with database.factory() as session:
            assert session.query(Job).filter(Job.kind == "install").count() == 0

        forced = client.post(install, json={"compiled_id": for_s3, "force": True})
        assert forced.status_code == 202, forced.text
        command = ws.receive_json()
        assert (command["type"], command["job_id"], command["board"]) == (
            "install",
            forced.json()["job_id"],
            "nano33ble",
        )


def test_a_virtual_device_takes_a_model_compiled_for_any_board(
    client: TestClient, database: Any
) -> None:
    me = client.get(f"{API}/users/me").json()["id"]
    for_nano = compiled_row(database, me, board="nano33ble")
    token = client.post(f"{API}/bridges", json={"name": "b"}).json()["token"]
    with connect(client, token) as ws:
        ws.receive_json()
        report(ws, "/dev/pts/3")
        device = wait_for(lambda: devices(client), 10, "the device reported")[0]
        install = f"{API}/devices/{device['id']}/install"

        check = client.get(f"{install}-check", params={"compiled_id": for_nano}).json()
        accepted = client.post(install, json={"compiled_id": for_nano})

        assert (check["allowed"], check["problem"], check["reason"]) == (True, None, None)
        assert accepted.status_code == 202, accepted.text
        assert ws.receive_json()["job_id"] == accepted.json()["job_id"]


def test_the_install_check_says_why_a_model_cannot_go_on_a_device(
    client: TestClient, database: Any
) -> None:
    me = client.get(f"{API}/users/me").json()["id"]
    huge = compiled_row(database, me, board="nano33ble", arena_bytes=900_000)
    compiling = compiled_row(database, me, status="running")
    token = client.post(f"{API}/bridges", json={"name": "b"}).json()["token"]
    with connect(client, token) as ws:
        ws.receive_json()
        report(ws, "/dev/ttyACM0", board="nano33ble")
        device = wait_for(lambda: devices(client), 10, "the device reported")[0]
    check = f"{API}/devices/{device['id']}/install-check"

    too_big = client.get(check, params={"compiled_id": huge}).json()
    not_ready = client.get(check, params={"compiled_id": compiling}).json()

    assert (too_big["allowed"], too_big["problem"], too_big["fits"]) == (
        False,
        "does_not_fit",
        False,
    )
    assert too_big["reason"].startswith(f"compiled model {huge} does not fit Arduino Nano 33 BLE")
    assert too_big["fit_detail"]["ram"]["estimate_bytes"] > 256 * 1024
    assert (not_ready["problem"], not_ready["reason"]) == (
        "not_ready",
        f"compiled model {compiling} is not ready (running)",
    )
    assert client.get(check, params={"compiled_id": 999_999}).status_code == 404
    assert client.get(check).status_code == 422


def test_other_users_see_no_bridges_or_devices(client: TestClient, make_user_client: Any) -> None:
    created = client.post(f"{API}/bridges", json={"name": "b"}).json()
    with connect(client, created["token"]) as ws:
        ws.receive_json()
        report(ws, "/dev/ttyACM0")
        device = wait_for(lambda: devices(client), 10, "the device reported")[0]
    mallory = make_user_client("mallory")
    assert mallory.get(f"{API}/bridges").json()["total"] == 0
    assert mallory.get(f"{API}/devices").json()["total"] == 0
    assert mallory.get(f"{API}/devices/{device['id']}").status_code == 404
    assert mallory.get(f"{API}/devices/{device['id']}/observations").status_code == 404
    assert mallory.delete(f"{API}/bridges/{created['id']}").status_code == 404


# Cancelling a running install. The test plays the bridge's side of the WebSocket; a real
# bridge process stopping a real installer is in test_install_cancel.py.


@contextmanager
def installing(
    client: TestClient, database: Any, features: list[str] | None
) -> Iterator[tuple[WebSocketTestSession, int, int]]:
    """A bridge connected and said hello (with these features), reported a board, and has been
    sent an install to it: (its socket, the install's job id, the compiled model's id)."""
    token = client.post(f"{API}/bridges", json={"name": "b"}).json()["token"]
    with connect(client, token) as ws:
        ws.receive_json()
        hello: dict[str, Any] = {"type": "hello", "hostname": "lab-pc", "version": "0.9"}
        if features is not None:
            hello["features"] = features
        ws.send_json(hello)
        report(ws, "/dev/pts/3")
        device = wait_for(lambda: devices(client), 10, "the device reported")[0]
        compiled_id = compiled_row(database, client.get(f"{API}/users/me").json()["id"])
        job_id = client.post(
            f"{API}/devices/{device['id']}/install", json={"compiled_id": compiled_id}
        ).json()["job_id"]
        assert ws.receive_json()["type"] == "install"
        yield ws, job_id, compiled_id


def log_lines(database: Any, job_id: int) -> list[str]:
    with database.factory() as session:
        events = session.scalars(
            select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.type == "log")
        )
        return [event.data["line"] for event in events]


def test_a_cancel_reaches_the_bridge_and_its_cancelled_result_ends_the_job(
    client: TestClient, database: Any
) -> None:
    with installing(client, database, ["cancel_install"]) as (ws, job_id, _):
        assert client.post(f"{API}/jobs/{job_id}/cancel").json()["message"] == "cancelling…"
        asked = time.monotonic()
        assert ws.receive_json() == {"type": "cancel_install", "job_id": job_id}
        assert time.monotonic() - asked < 2
        assert get_job(client, job_id)["message"] == (
            "cancelling: the bridge was asked to stop the installer"
        )
        # Output lines keep coming; the job's message keeps saying that it is cancelling.
        ws.send_json({"type": "install_log", "job_id": job_id, "line": "Uploading 40%"})
        state = "the upload was interrupted: the board may hold a partly written firmware"
        ws.send_json(
            {
                "type": "install_result",
                "job_id": job_id,
                "ok": False,
                "output": "Uploading 40%\nupload stopped",
                "cancelled": True,
                "device_state": state,
            }
        )
        job = ended(client, job_id)
        assert (job["status"], job["message"], job["error"]) == (
            "cancelled",
            f"cancelled: {state}",
            None,
        )
        device = devices(client)[0]
        assert (device["status"], device["installed"]) == ("online", None)


def test_an_old_bridge_cannot_cancel_and_the_install_ends_with_its_result(
    client: TestClient, database: Any
) -> None:
    with installing(client, database, None) as (ws, job_id, compiled_id):
        client.post(f"{API}/jobs/{job_id}/cancel")
        cannot = (
            "cannot cancel: this bridge (version 0.9) cannot stop an install (update it);"
            " it runs to its end"
        )
        wait_for(lambda: get_job(client, job_id)["message"] == cannot, 10, "the message")
        # The install's output goes on, and the job keeps saying that it cannot be cancelled.
        ws.send_json({"type": "install_log", "job_id": job_id, "line": "Upload 100%"})
        wait_for(lambda: log_lines(database, job_id) == ["Upload 100%"], 10, "the log line")
        assert get_job(client, job_id)["message"] == cannot
        ws.send_json({"type": "install_result", "job_id": job_id, "ok": True, "output": "done"})
        job = ended(client, job_id)
        assert (job["status"], job["message"]) == (
            "succeeded",
            "installed; the cancel could not be delivered: this bridge (version 0.9) cannot"
            " stop an install (update it)",
        )
        assert devices(client)[0]["installed"]["compiled_id"] == compiled_id
        # It was never sent a message it does not know: the next one is the next install.
        client.post(
            f"{API}/devices/{devices(client)[0]['id']}/install", json={"compiled_id": compiled_id}
        )
        assert ws.receive_json()["type"] == "install"


def test_a_cancel_that_comes_after_the_install_finished_keeps_its_real_result(
    client: TestClient, database: Any
) -> None:
    with installing(client, database, ["cancel_install"]) as (ws, job_id, compiled_id):
        client.post(f"{API}/jobs/{job_id}/cancel")
        assert ws.receive_json() == {"type": "cancel_install", "job_id": job_id}
        # The bridge had already sent this when the cancel reached it.
        ws.send_json({"type": "install_result", "job_id": job_id, "ok": True, "output": "done"})
        job = ended(client, job_id)
        assert (job["status"], job["message"]) == (
            "succeeded",
            "installed; the cancel came too late: the install had already finished on the bridge",
        )
        assert devices(client)[0]["installed"]["compiled_id"] == compiled_id


def test_a_bridge_that_goes_away_while_cancelling_fails_the_install(
    client: TestClient, database: Any
) -> None:
    with installing(client, database, ["cancel_install"]) as (ws, job_id, _):
        client.post(f"{API}/jobs/{job_id}/cancel")
        assert ws.receive_json() == {"type": "cancel_install", "job_id": job_id}
    job = ended(client, job_id)
    assert (job["status"], job["message"], job["error"]) == (
        "failed",
        "bridge disconnected",
        "the bridge disconnected during the install before confirming the cancel; the board"
        " may still run its previous model",
    )


def test_installs_queued_for_one_device_go_to_the_bridge_one_after_another(
    client: TestClient, database: Any
) -> None:
    with installing(client, database, ["cancel_install"]) as (ws, first, compiled_id):
        device_id = devices(client)[0]["id"]
        second = client.post(
            f"{API}/devices/{device_id}/install", json={"compiled_id": compiled_id}
        ).json()["job_id"]
        time.sleep(1.5)  # three dispatch rounds: the board is busy, the second install waits
        assert get_job(client, second)["status"] == "queued"
        ws.send_json({"type": "install_result", "job_id": first, "ok": True, "output": "done"})
        message = ws.receive_json()
        assert (message["type"], message["job_id"]) == ("install", second)
        assert ended(client, first)["status"] == "succeeded"
        assert get_job(client, second)["status"] == "running"


# Invalid messages from a bridge are answered with an error; the connection stays up.


def test_invalid_messages_are_answered_with_an_error_and_the_bridge_stays_connected(
    client: TestClient,
) -> None:
    token = client.post(f"{API}/bridges", json={"name": "b"}).json()["token"]
    with connect(client, token) as ws:
        assert ws.receive_json()["type"] == "welcome"
        ws.send_json({"type": "hello", "hostname": "lab-pc", "version": "test"})
        report(ws, "/dev/pts/7")
        device = wait_for(lambda: devices(client), 10, "the device online")[0]

        ws.send_text("this is not JSON")
        error = ws.receive_json()
        assert error["type"] == "error"
        assert error["detail"].startswith("not a JSON message")
        ws.send_json({"type": "self_destruct", "port": "/dev/pts/7"})
        assert ws.receive_json() == {
            "type": "error",
            "detail": "unknown message type 'self_destruct' (known: 'hello', 'ping', 'ports',"
            " 'device_hello', 'prediction', 'device_error', 'install_log', 'install_result',"
            " 'review_frame', 'frame_unavailable',"
            " 'device_test_progress', 'device_test_result', 'capture_frame', 'capture_result')",
        }
        ws.send_json({"type": "prediction", "port": "/dev/pts/7", "seq": 1, "scores": {}})
        assert ws.receive_json() == {
            "type": "error",
            "detail": "invalid 'prediction' message: label: Field required",
        }
        ws.send_json({"type": "install_log", "job_id": "not a number", "line": "x"})
        detail = ws.receive_json()["detail"]
        assert detail.startswith("invalid 'install_log' message: job_id: Input should be")
        ws.send_json({"type": "ports", "ports": [{"serial_number": "SN-x"}]})
        assert (
            ws.receive_json()["detail"] == "invalid 'ports' message: ports.0.port: Field required"
        )
        assert devices(client)[0]["status"] == "online"  # that bad report changed nothing

        # Later valid messages still work.
        ws.send_json(
            {
                "type": "prediction",
                "port": "/dev/pts/7",
                "seq": 2,
                "label": "dog",
                "scores": {"cat": 0.25, "dog": 0.75},
                "latency_ms": 3.5,
            }
        )
        url = f"{API}/devices/{device['id']}/observations"
        observations = wait_for(lambda: client.get(url).json()["items"], 10, "a stored prediction")
        assert [(o["seq"], o["label"], o["source"]) for o in observations] == [(2, "dog", None)]
        assert devices(client)[0]["status"] == "online"
        assert client.get(f"{API}/bridges").json()["items"][0]["status"] == "online"
    wait_for(lambda: devices(client)[0]["status"] == "offline", 10, "the device offline")
