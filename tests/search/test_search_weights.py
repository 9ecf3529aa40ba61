"""Starting weights as a search dimension: which candidates start from them, the refusals
(no training runs here: the trainings stay queued)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.searches import import_patterns
from support.weights import weights_bytes

V1_FILE = "mobilenet_2_5_128_tf_no_top.h5"


@pytest.fixture(autouse=True)
def weights_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty weights cache with downloads off (the tests have no internet)."""
    folder = tmp_path / "weights"
    monkeypatch.setenv("TINYMLAAS_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("TINYMLAAS_WEIGHTS_DOWNLOAD", "false")
    return folder


def body(dataset_id: int, **changes: Any) -> dict[str, Any]:
    return {
        "name": "transfer",
        "dataset_id": dataset_id,
        "board": "nano33ble",
        "time_budget_minutes": 5,
        "architectures": ["cnn-small", "mobilenet-v1"],
        "input_sizes": [32],
        "color_modes": ["grayscale"],
        "max_candidates": 100,
    } | changes


def test_imagenet_weights_start_the_mobilenets_once_they_are_in_the_cache(
    client: TestClient, weights_dir: Path
) -> None:
    dataset_id = import_patterns(client)
    refused = client.post("/api/v1/searches", json=body(dataset_id, weights="imagenet"))
    assert refused.status_code == 400, refused.text
    assert f"tinymlaas weights import {V1_FILE}" in refused.json()["detail"]
    assert client.get("/api/v1/searches").json()["total"] == 0
    assert client.get("/api/v1/models").json()["total"] == 0

    weights_dir.mkdir()
    for alpha, name in ((0.25, V1_FILE), (0.5, "mobilenet_5_0_128_tf_no_top.h5")):
        (weights_dir / name).write_bytes(weights_bytes("mobilenet-v1", alpha))
    # α0.1 and 0.2 have no published ImageNet weights: searched from random weights only
    started = client.post(
        "/api/v1/searches",
        json=body(dataset_id, weights=["none", "imagenet"]),
    )
    assert started.status_code == 202, started.text
    search = client.get(f"/api/v1/searches/{started.json()['id']}").json()
    pairs = sorted((c["architecture"], c["alpha"], c["weights"]) for c in search["candidates"])
    assert pairs == [
        ("cnn-small", 0.5, "none"), ("cnn-small", 1.0, "none"), ("cnn-small", 2.0, "none"),
        ("mobilenet-v1", 0.1, "none"), ("mobilenet-v1", 0.2, "none"),
        ("mobilenet-v1", 0.25, "imagenet"), ("mobilenet-v1", 0.25, "none"),
        ("mobilenet-v1", 0.5, "imagenet"), ("mobilenet-v1", 0.5, "none"),
    ]  # fmt: skip
    labels = sorted(c["label"] for c in search["candidates"] if c["weights"] == "imagenet")
    assert labels == [
        "mobilenet-v1 α0.25 32×32 grayscale from ImageNet",
        "mobilenet-v1 α0.5 32×32 grayscale from ImageNet",
    ]
    # the candidates that fit train as ordinary trainings, from the weights they were given
    models = client.get("/api/v1/models").json()["items"]
    training = [c for c in search["candidates"] if c["status"] == "training"]
    assert len(models) == len(training) > 0
    by_name = {model["name"]: model for model in models}
    for candidate in training:
        model = by_name[f"transfer · {candidate['label']} · rung 0"]
        expected = candidate["weights"]
        assert model["config"]["weights"] == expected, (candidate, model["config"])


def test_weights_no_candidate_can_use_are_refused(client: TestClient) -> None:
    dataset_id = import_patterns(client)
    cnn_only = client.post(
        "/api/v1/searches", json=body(dataset_id, architectures=["cnn-small"], weights="imagenet")
    )
    assert cnn_only.status_code == 400
    assert "weights 'imagenet' cannot start any candidate" in cnn_only.json()["detail"]
    missing_base = client.post("/api/v1/searches", json=body(dataset_id, weights=77))
    assert missing_base.status_code == 404
    assert "base weights 77 not found" in missing_base.json()["detail"]
    base = client.post(
        "/api/v1/weights",
        files={"file": ("v1.h5", weights_bytes("mobilenet-v1", 0.25))},
        data={"name": "mine"},
    )
    assert base.status_code == 201, base.text
    base_id = base.json()["id"]
    other_backbone = client.post(
        "/api/v1/searches",
        json=body(dataset_id, architectures=["mobilenet-v2"], weights=base_id),
    )
    assert other_backbone.status_code == 400
    assert f"base weights {base_id} cannot start any candidate" in other_backbone.json()["detail"]
    empty_list = client.post("/api/v1/searches", json=body(dataset_id, weights=[]))
    assert empty_list.status_code == 422
    assert client.get("/api/v1/searches").json()["total"] == 0
