"""Starting, reading and cancelling model searches through the API (no training runs here)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tinymlaas.config import Settings
from tinymlaas.search.coordinator import advance_all

from conftest import Database
from support.searches import import_patterns


def search_body(dataset_id: int, **changes: Any) -> dict[str, Any]:
    return {
        "name": "best for nano",
        "dataset_id": dataset_id,
        "board": "nano33ble",
        "engine": "tflm",
        "time_budget_minutes": 5,
        "objective": "accuracy",
        "seed": 3,
        "architectures": ["cnn-small", "mobilenet-v1"],
        "input_sizes": [32, 96],
        "max_candidates": 4,
    } | changes


def test_a_search_drops_what_does_not_fit_before_training(client: TestClient) -> None:
    dataset_id = import_patterns(client)
    response = client.post("/api/v1/searches", json=search_body(dataset_id))
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert set(accepted) == {"id", "job_id"}
    search = client.get(f"/api/v1/searches/{accepted['id']}").json()
    assert search["status"] == "running"
    assert search["phase"] == "training"
    candidates = search["candidates"]
    # 2 architectures: (3 + 4 alphas) × 2 sizes × 2 colour modes
    assert len(candidates) == 28
    training = [c for c in candidates if c["status"] == "training"]
    dropped = [c for c in candidates if c["status"] == "dropped"]
    assert len(training) == 4
    assert all(c["ram_bytes"] <= search["ram_limit_bytes"] for c in training)
    assert all(c["flash_bytes"] <= search["flash_limit_bytes"] for c in training)
    too_big = [c for c in dropped if c["flash_bytes"] > search["flash_limit_bytes"]]
    assert too_big
    assert all("B of flash" in c["reason"] for c in too_big)
    assert any("max_candidates" in c["reason"] for c in dropped)
    # every trained candidate is an ordinary training job of the user's
    models = client.get("/api/v1/models").json()
    assert models["total"] == 4
    assert search["board_ram_bytes"] == 256 * 1024
    assert "MACs" in search["latency_basis"]
    listed = client.get("/api/v1/searches").json()
    assert listed["total"] == 1
    assert listed["items"][0]["id"] == accepted["id"]


def test_bad_searches_are_refused_with_the_reason(client: TestClient) -> None:
    dataset_id = import_patterns(client)
    unknown = client.post("/api/v1/searches", json=search_body(dataset_id, board="uno"))
    assert unknown.status_code == 400
    assert "unknown board 'uno'" in unknown.json()["detail"]
    arch = client.post("/api/v1/searches", json=search_body(dataset_id, architectures=["resnet"]))
    assert arch.status_code == 400
    assert "resnet" in arch.json()["detail"]
    nothing_fits = client.post(
        "/api/v1/searches",
        json=search_body(dataset_id, architectures=["mobilenet-v2"], input_sizes=[96]),
    )
    assert nothing_fits.status_code == 400
    assert "no candidate fits" in nothing_fits.json()["detail"]
    epochs = client.post(
        "/api/v1/searches", json=search_body(dataset_id, first_epochs=4, max_epochs=3)
    )
    assert epochs.status_code == 422
    assert "max_epochs (3) is less than first_epochs (4)" in epochs.text
    missing = client.post("/api/v1/searches", json=search_body(999))
    assert missing.status_code == 404
    # nothing was half stored
    assert client.get("/api/v1/searches").json()["total"] == 0
    assert client.get("/api/v1/models").json()["total"] == 0


def test_cancelling_the_search_job_stops_every_training(
    client: TestClient, database: Database, settings: Settings
) -> None:
    dataset_id = import_patterns(client)
    accepted = client.post("/api/v1/searches", json=search_body(dataset_id)).json()
    response = client.post(f"/api/v1/jobs/{accepted['job_id']}/cancel")
    assert response.status_code in (200, 202), response.text
    assert advance_all(database.factory, settings) == 1
    search = client.get(f"/api/v1/searches/{accepted['id']}").json()
    assert search["status"] == "cancelled"
    assert search["phase"] == "done"
    assert not [c for c in search["candidates"] if c["status"] == "training"]
    models = client.get("/api/v1/models").json()["items"]
    assert {model["status"] for model in models} == {"cancelled"}
    # a finished search is not advanced again
    assert advance_all(database.factory, settings) == 0


def test_another_users_search_is_not_found(client: TestClient, make_user_client: Any) -> None:
    dataset_id = import_patterns(client)
    accepted = client.post("/api/v1/searches", json=search_body(dataset_id)).json()
    other = make_user_client("bob")
    assert other.get(f"/api/v1/searches/{accepted['id']}").status_code == 404
    assert other.get("/api/v1/searches").json()["total"] == 0
