"""Doubtful predictions over the bridge WebSocket: the server asks for their frames and queues
only frames it asked for that decode within the limits, under the caps."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from tinymlaas.config import Settings
from tinymlaas.devices import review_counts

from support.clock import MovableClock
from support.factories import image_bytes
from support.waiting import wait_for

API = "/api/v1"
PORT = "/dev/pts/9"


def connect(client: TestClient, token: str) -> Any:
    return client.websocket_connect(
        f"{API}/bridges/connect", headers={"Authorization": f"Bearer {token}"}
    )


def predict(ws: WebSocketTestSession, seq: int, top: float, label: str = "cat") -> None:
    other = "dog" if label == "cat" else "cat"
    ws.send_json(
        {
            "type": "prediction",
            "port": PORT,
            "seq": seq,
            "label": label,
            "scores": {label: top, other: round(1 - top, 6)},
        }
    )


def frame(ws: WebSocketTestSession, seq: int, data: bytes) -> None:
    ws.send_json(
        {"type": "review_frame", "port": PORT, "seq": seq, "png": base64.b64encode(data).decode()}
    )


def observed(client: TestClient, device_id: int, count: int) -> None:
    """Wait until the server has handled `count` predictions (they are handled in order)."""
    url = f"{API}/devices/{device_id}/observations"
    wait_for(lambda: client.get(url).json()["total"] >= count, 10, f"{count} predictions")


def counts(client: TestClient, device_id: int) -> dict[str, Any]:
    """The device's review capture counts as its API record shows them."""
    return client.get(f"{API}/devices/{device_id}").json()["review_capture"]  # type: ignore[no-any-return]


def keep(client: TestClient, ws: WebSocketTestSession, dataset_id: int, seqs: range) -> None:
    """Doubtful predictions whose frames are asked for, sent and queued."""
    for seq in seqs:
        predict(ws, seq, 0.5)
        assert ws.receive_json() == {"type": "fetch_frame", "port": PORT, "seq": seq}
        frame(ws, seq, image_bytes(color=(seq, 0, 0)))
    wanted = set(seqs)
    wait_for(lambda: wanted <= {i["seq"] for i in queued(client, dataset_id)}, 10, "frames queued")


@pytest.fixture
def review_clock(monkeypatch: pytest.MonkeyPatch) -> MovableClock:
    """The capture counts' clock, standing still at 10 minutes past an hour until moved."""
    clock = MovableClock(MovableClock().current.replace(minute=10, second=0))
    monkeypatch.setattr(review_counts, "now", clock)
    return clock


@pytest.fixture
def bridge(client: TestClient) -> Any:
    """A connected bridge that can fetch frames, with one board, and a rule sending its doubtful
    predictions (top score below 0.6, at most 3 an hour) to dataset `pets`'s review."""
    token = client.post(f"{API}/bridges", json={"name": "b"}).json()["token"]
    dataset_id = client.post(f"{API}/datasets", json={"name": "pets"}).json()["id"]
    with connect(client, token) as ws:
        assert ws.receive_json()["type"] == "welcome"
        ws.send_json({"type": "hello", "version": "test", "features": ["fetch_frame"]})
        ws.send_json(
            {"type": "ports", "ports": [{"port": PORT, "serial_number": "S", "board": "virtual"}]}
        )
        device = wait_for(lambda: client.get(f"{API}/devices").json()["items"], 10, "device")[0]
        rule = {"dataset_id": dataset_id, "below_score": 0.6, "max_per_hour": 3}
        put = client.put(f"{API}/devices/{device['id']}/capture-rule", json=rule)
        assert put.status_code == 200, put.text
        yield ws, device["id"], dataset_id


def queued(client: TestClient, dataset_id: int) -> list[dict[str, Any]]:
    return client.get(f"{API}/datasets/{dataset_id}/review").json()["items"]  # type: ignore[no-any-return]


def test_a_doubtful_prediction_fetches_its_frame_into_the_review_queue(
    client: TestClient, bridge: Any
) -> None:
    ws, device_id, dataset_id = bridge
    predict(ws, 1, 0.9)  # confident: no request
    predict(ws, 2, 0.55, label="dog")
    assert ws.receive_json() == {"type": "fetch_frame", "port": PORT, "seq": 2}
    frame(ws, 2, image_bytes(color=(9, 9, 9)))
    items = wait_for(lambda: queued(client, dataset_id), 10, "the frame queued")
    assert len(items) == 1
    item = items[0]
    assert (item["label"], item["seq"], item["device_id"], item["reason"]) == (
        "dog", 2, device_id, "below_score"
    )  # fmt: skip
    assert item["scores"] == {"dog": 0.55, "cat": 0.45}
    content = client.get(f"{API}/datasets/{dataset_id}/review/{item['id']}/content").content
    assert content == image_bytes(color=(9, 9, 9))
    rule = client.get(f"{API}/devices/{device_id}/capture-rule").json()
    assert (rule["kept_last_hour"], rule["queued"]) == (1, 1)
    kept_one = {"kept": 1, "dropped_hourly_cap": 0, "dropped_queue_full": 0, "rejected": 0}
    assert rule["counts"]["this_hour"] == rule["counts"]["total"] == kept_one
    assert counts(client, device_id)["total"] == kept_one


def test_hostile_frames_are_dropped_and_the_bridge_stays_connected(
    client: TestClient, bridge: Any
) -> None:
    ws, device_id, dataset_id = bridge
    frame(ws, 7, image_bytes())  # never asked for
    predict(ws, 1, 0.5)
    assert ws.receive_json()["seq"] == 1
    frame(ws, 1, b"not an image at all")
    predict(ws, 2, 0.5)
    assert ws.receive_json()["seq"] == 2
    ws.send_json({"type": "review_frame", "port": PORT, "seq": 2, "png": "!!not base64!!"})
    predict(ws, 3, 0.5)
    assert ws.receive_json()["seq"] == 3
    frame(ws, 3, b"\0" * (3 * 2**20))  # over the 2 MiB limit
    frame(ws, 3, image_bytes())  # its request was used up by the frame above
    ws.send_json({"type": "frame_unavailable", "port": PORT, "seq": 99, "detail": "no"})
    predict(ws, 4, 0.99)
    observed(client, device_id, 4)
    assert queued(client, dataset_id) == []
    # Still connected, and a good frame still lands.
    predict(ws, 5, 0.45)
    assert ws.receive_json()["seq"] == 5
    frame(ws, 5, image_bytes())
    wait_for(lambda: queued(client, dataset_id), 10, "the good frame")
    assert client.get(f"{API}/devices").json()["items"][0]["status"] == "online"
    # The three frames asked for and failing the checks are counted; the one never asked for
    # (seq 7) and the second answer to seq 3 are not the device's.
    total = client.get(f"{API}/devices/{device_id}/capture-rule").json()["counts"]["total"]
    assert total == {"kept": 1, "dropped_hourly_cap": 0, "dropped_queue_full": 0, "rejected": 3}


def test_the_hourly_cap_stops_a_flooding_board(client: TestClient, bridge: Any) -> None:
    ws, device_id, dataset_id = bridge
    for seq in range(1, 4):
        predict(ws, seq, 0.5)
        assert ws.receive_json()["seq"] == seq
        frame(ws, seq, image_bytes(color=(seq, 0, 0)))
    wait_for(lambda: len(queued(client, dataset_id)) == 3, 10, "three frames queued")
    for seq in range(4, 40):
        predict(ws, seq, 0.5)
    observed(client, device_id, 39)
    # The cap of 3 an hour is reached: nothing more was asked for, and a frame sent anyway
    # (not asked for) is dropped.
    frame(ws, 39, image_bytes())
    ws.send_json({"type": "ping"})
    predict(ws, 40, 0.5)
    observed(client, device_id, 40)
    assert len(queued(client, dataset_id)) == 3


def test_reviewing_the_queue_makes_no_room_under_the_hourly_cap(
    client: TestClient, bridge: Any, review_clock: MovableClock
) -> None:
    ws, device_id, dataset_id = bridge
    keep(client, ws, dataset_id, range(1, 4))
    ids = [item["id"] for item in queued(client, dataset_id)]
    review = f"{API}/datasets/{dataset_id}/review"
    assert client.post(f"{review}/accept", json={"ids": ids[:2]}).status_code == 200
    assert client.post(f"{review}/discard", json={"ids": ids[2:]}).status_code == 200
    assert queued(client, dataset_id) == []

    # The queue is empty, but the device kept its 3 this hour: more doubt is refused, counted.
    for seq in range(4, 7):
        predict(ws, seq, 0.5)
    wait_for(
        lambda: counts(client, device_id)["this_hour"]["dropped_hourly_cap"] == 3, 10, "3 drops"
    )
    rule = client.get(f"{API}/devices/{device_id}/capture-rule").json()
    assert rule["kept_last_hour"] == 3
    assert rule["counts"]["this_hour"] == {
        "kept": 3, "dropped_hourly_cap": 3, "dropped_queue_full": 0, "rejected": 0
    }  # fmt: skip

    # The next hour the device keeps frames again (the next thing it hears is this request).
    review_clock.advance(3600)
    keep(client, ws, dataset_id, range(7, 8))
    after = counts(client, device_id)
    assert after["hour"] != rule["counts"]["hour"]
    assert after["this_hour"] == {
        "kept": 1, "dropped_hourly_cap": 0, "dropped_queue_full": 0, "rejected": 0
    }  # fmt: skip
    assert after["total"] == {
        "kept": 4, "dropped_hourly_cap": 3, "dropped_queue_full": 0, "rejected": 0
    }  # fmt: skip


@pytest.fixture
def queue_of_two(settings: Settings) -> None:
    """Review queues hold at most 2 frames (set before the app starts)."""
    settings.review_queue_max = 2


def test_a_full_queue_drops_doubtful_predictions_and_says_so(
    client: TestClient, queue_of_two: None, bridge: Any
) -> None:
    ws, device_id, dataset_id = bridge
    keep(client, ws, dataset_id, range(1, 3))
    predict(ws, 3, 0.5)
    predict(ws, 4, 0.5)
    wait_for(lambda: counts(client, device_id)["total"]["dropped_queue_full"] == 2, 10, "2 drops")
    rule = client.get(f"{API}/devices/{device_id}/capture-rule").json()
    assert (rule["queued"], rule["queue_max"]) == (2, 2)
    assert rule["counts"]["this_hour"] == {
        "kept": 2, "dropped_hourly_cap": 0, "dropped_queue_full": 2, "rejected": 0
    }  # fmt: skip


def test_an_old_bridge_is_never_asked_for_frames(client: TestClient) -> None:
    token = client.post(f"{API}/bridges", json={"name": "old"}).json()["token"]
    dataset_id = client.post(f"{API}/datasets", json={"name": "d"}).json()["id"]
    with connect(client, token) as ws:
        assert ws.receive_json()["type"] == "welcome"
        ws.send_json({"type": "hello", "version": "0.1"})  # no features
        ws.send_json({"type": "ports", "ports": [{"port": PORT, "board": "virtual"}]})
        device = wait_for(lambda: client.get(f"{API}/devices").json()["items"], 10, "device")[0]
        client.put(
            f"{API}/devices/{device['id']}/capture-rule",
            json={"dataset_id": dataset_id, "below_score": 1.0},
        )
        predict(ws, 1, 0.5)
        observed(client, device["id"], 1)
        ws.send_text("not json")  # the next thing the bridge hears is this error, no fetch_frame
        assert ws.receive_json()["type"] == "error"
