"""A whole search on a tiny dataset: trainings on a local worker, halving, the compiled
recommendation, the estimates against what compiling measured for every finished candidate
(both engines), and deploying candidates onto a device in one request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from tinymlaas.config import Settings
from tinymlaas.devices import deploys

from conftest import Database
from support.jobs import wait_for_job
from support.searches import import_patterns, run_search
from support.waiting import wait_for

# Whole searches train for real: once, on SQLite (the router tests cover the other databases).
pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True),
]
Json = dict[str, Any]


@contextmanager
def virtual_device(client: TestClient) -> Iterator[tuple[WebSocketTestSession, int]]:
    """A bridge connected over the WebSocket with one virtual board: (the socket, its id)."""
    token = client.post("/api/v1/bridges", json={"name": "bench"}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    with client.websocket_connect("/api/v1/bridges/connect", headers=headers) as ws:
        ws.receive_json()
        port = {"port": "/dev/pts/7", "serial_number": "SN-7", "vid": None, "pid": None}
        port |= {"description": "virtual", "board": "virtual", "virtual": True}
        ws.send_json({"type": "ports", "ports": [port]})
        found = wait_for(lambda: client.get("/api/v1/devices").json()["items"], 10, "a device")
        yield ws, found[0]["id"]


def installed(client: TestClient, ws: WebSocketTestSession, compiled_id: int) -> int:
    """The bridge receives an install, reports it done, and the device then holds
    `compiled_id`; the install's job id."""
    command = ws.receive_json()
    assert command["type"] == "install", command
    ws.send_json({"type": "install_result", "job_id": command["job_id"], "ok": True, "output": ""})

    def holds() -> bool:
        device = client.get("/api/v1/devices").json()["items"][0]
        return bool(device["installed"] and device["installed"]["compiled_id"] == compiled_id)

    wait_for(holds, 10, f"compiled model {compiled_id} installed")
    job_id: int = command["job_id"]
    return job_id


def deploy(client: TestClient, search: Json, candidate: Json, device_id: int | None) -> Json:
    path = f"/api/v1/searches/{search['id']}/candidates/{candidate['id']}/deploy"
    response = client.post(path, json={"device_id": device_id})
    assert response.status_code == 202, response.text
    accepted: Json = response.json()
    if accepted["compile_job_id"] is not None:
        job = wait_for_job(client, accepted["compile_job_id"])
        assert job["status"] == "succeeded", job
    return accepted


@pytest.mark.parametrize("engine", ["tflm", "c"])
def test_a_search_recommends_a_measured_fitting_model(
    client: TestClient, database: Database, settings: Settings, local_worker: None, engine: str
) -> None:
    dataset_id = import_patterns(client, per_class=12)
    body = {
        "name": "tiny search",
        "dataset_id": dataset_id,
        "board": "nano33ble",
        "engine": engine,
        "time_budget_minutes": 10,
        "objective": "accuracy",
        "seed": 5,
        "architectures": ["cnn-small"],
        "input_sizes": [32],
        "color_modes": ["grayscale"],
        "first_epochs": 1,
        "max_epochs": 4,
        "batch_size": 8,
    }
    accepted = client.post("/api/v1/searches", json=body).json()
    search = run_search(client, database.factory, settings, accepted["id"])
    assert search["status"] == "succeeded", search
    candidates = {c["id"]: c for c in search["candidates"]}
    assert len(candidates) == 3
    # rung 0: all three for 1 epoch; the best third (one) went on to 3 epochs in all; then,
    # alone, on towards the next rung's 9 while the budget lasts, but only to the cap of 4
    statuses = sorted(c["status"] for c in candidates.values())
    assert statuses == ["eliminated", "eliminated", "recommended"]
    best = candidates[search["recommended_id"]]
    assert best["epochs_trained"] == 4
    assert best["rung"] == 2
    assert all(c["epochs_trained"] == 1 for c in candidates.values() if c is not best)
    assert best["measured_ram_bytes"] <= search["ram_limit_bytes"]
    assert best["measured_flash_bytes"] <= search["flash_limit_bytes"]
    # nothing beats the most accurate candidate on accuracy: it is on the front
    most_accurate = max(candidates.values(), key=lambda c: (c["val_accuracy"], -c["ram_bytes"]))
    assert most_accurate["id"] in search["pareto_front"]
    # every candidate that finished: deployed (compiled for the board, the recommendation's
    # compile reused), and the estimate made before training against the measurement
    for candidate in candidates.values():
        deployed = deploy(client, search, candidate, None)
        assert (deployed["compile_job_id"] is None) == (candidate is best)
        compiled = client.get(f"/api/v1/compiled/{deployed['compiled_id']}").json()
        assert compiled["engine"] == engine
        ram_error = candidate["ram_bytes"] / compiled["ram_estimate_bytes"] - 1
        flash_error = candidate["flash_bytes"] / compiled["flash_estimate_bytes"] - 1
        assert abs(ram_error) <= 0.03, (candidate, compiled["ram_estimate_bytes"])
        assert abs(flash_error) <= 0.05, (candidate, compiled["flash_estimate_bytes"])


def test_one_request_compiles_a_candidate_and_installs_it_on_a_device(
    client: TestClient, database: Database, settings: Settings, local_worker: None
) -> None:
    dataset_id = import_patterns(client, per_class=6)
    body = {
        "name": "deploy me",
        "dataset_id": dataset_id,
        "board": "nano33ble",
        "time_budget_minutes": 10,
        "architectures": ["cnn-small"],
        "input_sizes": [32],
        "color_modes": ["grayscale"],
        "max_candidates": 2,
        "first_epochs": 1,
        "max_epochs": 3,
        "batch_size": 8,
    }
    started = client.post("/api/v1/searches", json=body)
    assert started.status_code == 202, started.text
    running = client.get(f"/api/v1/searches/{started.json()['id']}").json()
    trained = next(c for c in running["candidates"] if c["status"] == "training")
    early = client.post(
        f"/api/v1/searches/{running['id']}/candidates/{trained['id']}/deploy", json={}
    )
    assert early.status_code == 409
    assert "still running" in early.json()["detail"]
    search = run_search(client, database.factory, settings, running["id"])
    assert search["status"] == "succeeded", search
    best = search["recommendation"]
    other = next(c for c in search["candidates"] if c["status"] == "eliminated")
    with virtual_device(client) as (ws, device_id):
        # compiled already: the install is queued at once
        now = deploy(client, search, best, device_id)
        assert now["install_job_id"] is not None
        assert not now["install_pending"]
        assert installed(client, ws, best["compiled_id"]) == now["install_job_id"]
        # not compiled yet: compiled now, installed when its compile has succeeded
        later = client.post(
            f"/api/v1/searches/{search['id']}/candidates/{other['id']}/deploy",
            json={"device_id": device_id},
        ).json()
        assert later["install_pending"]
        assert later["install_job_id"] is None
        assert deploys.install_pending(database.factory) == 0  # still compiling
        job = wait_for_job(client, later["compile_job_id"])
        assert job["status"] == "succeeded", job
        assert deploys.install_pending(database.factory) == 1
        installed(client, ws, later["compiled_id"])
        assert deploys.install_pending(database.factory) == 0
    missing = client.post(
        f"/api/v1/searches/{search['id']}/candidates/999999/deploy", json={"device_id": None}
    )
    assert missing.status_code == 404
