"""A whole search on a tiny dataset: trainings on a local worker, halving, the compiled
recommendation, and the estimates against what compiling measured for every finished candidate."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tinymlaas.config import Settings

from conftest import Database
from support.jobs import wait_for_job
from support.searches import import_patterns, run_search

pytestmark = pytest.mark.slow


def test_a_search_recommends_a_measured_fitting_model(
    client: TestClient, database: Database, settings: Settings, local_worker: None
) -> None:
    dataset_id = import_patterns(client, per_class=12)
    body = {
        "name": "tiny search",
        "dataset_id": dataset_id,
        "board": "nano33ble",
        "engine": "tflm",
        "time_budget_minutes": 10,
        "objective": "accuracy",
        "seed": 5,
        "architectures": ["cnn-small"],
        "input_sizes": [32],
        "color_modes": ["grayscale"],
        "first_epochs": 1,
        "batch_size": 8,
    }
    accepted = client.post("/api/v1/searches", json=body).json()
    search = run_search(client, database.factory, settings, accepted["id"])
    assert search["status"] == "succeeded", search
    candidates = {c["id"]: c for c in search["candidates"]}
    assert len(candidates) == 3
    # rung 0: all three for 1 epoch; the best third (one) went on to 3 epochs in all
    statuses = sorted(c["status"] for c in candidates.values())
    assert statuses == ["eliminated", "eliminated", "recommended"]
    best = candidates[search["recommended_id"]]
    assert best["epochs_trained"] == 3
    assert best["rung"] == 1
    assert all(c["epochs_trained"] == 1 for c in candidates.values() if c is not best)
    assert best["measured_ram_bytes"] <= search["ram_limit_bytes"]
    assert best["measured_flash_bytes"] <= search["flash_limit_bytes"]
    # nothing beats the most accurate candidate on accuracy: it is on the front
    most_accurate = max(candidates.values(), key=lambda c: (c["val_accuracy"], -c["ram_bytes"]))
    assert most_accurate["id"] in search["pareto_front"]
    # every candidate that finished: the estimate made before training against the measurement
    for candidate in candidates.values():
        compiled_id = candidate["compiled_id"]
        if compiled_id is None:
            response = client.post(
                f"/api/v1/models/{candidate['model_id']}/compile", json={"board": "nano33ble"}
            )
            assert response.status_code == 202, response.text
            job = wait_for_job(client, response.json()["job_id"])
            assert job["status"] == "succeeded", job
            compiled_id = response.json()["id"]
        compiled = client.get(f"/api/v1/compiled/{compiled_id}").json()
        ram_error = candidate["ram_bytes"] / compiled["ram_estimate_bytes"] - 1
        flash_error = candidate["flash_bytes"] / compiled["flash_estimate_bytes"] - 1
        assert abs(ram_error) <= 0.03, (candidate, compiled["ram_estimate_bytes"])
        assert abs(flash_error) <= 0.05, (candidate, compiled["flash_estimate_bytes"])
