"""Users cannot reach each other's things, and each kind of token acts only as what it is."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from conftest import Database
from support.factories import compiled_row
from support.waiting import wait_for

API = "/api/v1"


def test_compiled_models_and_their_files_are_private(
    client: TestClient, database: Database, make_user_client: Callable[[str], TestClient]
) -> None:
    me = client.get(f"{API}/users/me").json()["id"]
    compiled_id = compiled_row(database, me)
    assert client.get(f"{API}/compiled/{compiled_id}").status_code == 200
    mallory = make_user_client("mallory")
    for method, path in [
        ("GET", f"/compiled/{compiled_id}"),
        ("GET", f"/compiled/{compiled_id}/files"),
        ("GET", f"/compiled/{compiled_id}/files/model.tflite"),
        ("DELETE", f"/compiled/{compiled_id}"),
    ]:
        assert mallory.request(method, API + path).status_code == 404, path
    assert mallory.get(f"{API}/compiled").json()["total"] == 0
    assert client.get(f"{API}/compiled/{compiled_id}/files/model.tflite").content == b"TFL3-bytes"


def test_a_bridge_token_is_not_a_user_token_and_the_reverse(client: TestClient) -> None:
    token = client.post(f"{API}/bridges", json={"name": "b"}).json()["token"]
    as_user = client.get(f"{API}/datasets", headers={"Authorization": f"Bearer {token}"})
    assert as_user.status_code == 401
    user_token = client.headers["Authorization"].removeprefix("Bearer ")
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect(
            f"{API}/bridges/connect", headers={"Authorization": f"Bearer {user_token}"}
        ) as ws,
    ):
        ws.receive_json()


def test_a_bridge_reports_only_into_its_own_owners_devices(
    client: TestClient, make_user_client: Callable[[str], TestClient]
) -> None:
    mallory = make_user_client("mallory")
    token = mallory.post(f"{API}/bridges", json={"name": "mallory's"}).json()["token"]
    with client.websocket_connect(
        f"{API}/bridges/connect", headers={"Authorization": f"Bearer {token}"}
    ) as ws:
        ws.receive_json()
        ws.send_json(
            {
                "type": "ports",
                "ports": [
                    {"port": "/dev/ttyACM0", "serial_number": "X", "vid": None, "pid": None,
                     "description": "d", "board": "virtual", "virtual": True}
                ],
            }
        )  # fmt: skip
        ws.send_json({"type": "ping"})
    assert client.get(f"{API}/devices").json()["total"] == 0
    wait_for(lambda: mallory.get(f"{API}/devices").json()["total"] == 1, 5, "mallory's device")
