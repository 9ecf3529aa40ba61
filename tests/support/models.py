"""A tiny model of the pattern classes, trained and compiled through the JSON API."""

from __future__ import annotations

from typing import Any

import httpx

from support.factories import pattern_dataset_zip
from support.jobs import api_url, wait_for_job

PATTERN_TRAINING: dict[str, Any] = {
    "name": "patterns",
    "architecture": "cnn-small",
    "alpha": 0.5,
    "input_width": 16,
    "input_height": 16,
    "epochs": 8,
    "batch_size": 8,
    "learning_rate": 0.01,
    "seed": 5,
}


def train_and_compile(client: httpx.Client, per_class: int = 16, engine: str = "tflm") -> int:
    """Import the pattern dataset, train PATTERN_TRAINING on it and compile it for the virtual
    board with `engine` (a worker must be running); returns the compiled model's id."""
    dataset = client.post(
        api_url(client, "/datasets/import"),
        files={"file": ("p.zip", pattern_dataset_zip(per_class=per_class), "application/zip")},
        data={"name": "patterns"},
    ).json()
    model = client.post(
        api_url(client, "/models"), json=PATTERN_TRAINING | {"dataset_id": dataset["id"]}
    ).json()
    job = wait_for_job(client, model["job_id"], timeout=240)
    assert job["status"] == "succeeded", job
    compiled = client.post(
        api_url(client, f"/models/{model['id']}/compile"),
        json={"board": "virtual", "engine": engine},
    ).json()
    job = wait_for_job(client, compiled["job_id"], timeout=240)
    assert job["status"] == "succeeded", job
    return int(compiled["id"])


TINY_TRAINING: dict[str, Any] = {
    "name": "tiny",
    "architecture": "cnn-small",
    "alpha": 0.5,
    "input_width": 16,
    "input_height": 16,
    "epochs": 6,
    "batch_size": 8,
    "learning_rate": 0.01,
    "seed": 7,
}


def start_training(client: Any, **changes: object) -> dict[str, Any]:
    """Import the pattern dataset and queue TINY_TRAINING (with `changes`) on it through the
    API of a TestClient; the 202 answer."""
    imported = client.post(
        "/api/v1/datasets/import",
        files={"file": ("p.zip", pattern_dataset_zip(per_class=16), "application/zip")},
        data={"name": "patterns"},
    ).json()
    body = TINY_TRAINING | {"dataset_id": imported["id"]} | changes
    response = client.post("/api/v1/models", json=body)
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted
