"""Training from pretrained weights in a worker: it really starts from the file, adapts it to
grayscale, keeps the backbone frozen first, then fine-tunes it."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.config import Settings
from tinymlaas.models import TrainedModel

from conftest import Database
from support.factories import pattern_dataset_zip
from support.jobs import wait_for_job
from support.weights import backbone_arrays, write_weights

pytestmark = pytest.mark.slow

V1_FILE = "mobilenet_2_5_128_tf_no_top.h5"
TRAINING = {
    "name": "transfer",
    "architecture": "mobilenet-v1",
    "alpha": 0.25,
    "input_width": 32,
    "input_height": 32,
    "batch_size": 8,
    "seed": 3,
}


@pytest.fixture(autouse=True)
def weights_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The weights cache of the API and of the workers (downloads off: no internet here)."""
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setenv("TINYMLAAS_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("TINYMLAAS_WEIGHTS_DOWNLOAD", "false")
    return folder


def queue(client: TestClient, **changes: object) -> dict[str, Any]:
    dataset = client.post(
        "/api/v1/datasets/import",
        files={"file": ("p.zip", pattern_dataset_zip(per_class=6), "application/zip")},
        data={"name": "patterns"},
    ).json()
    response = client.post(
        "/api/v1/models", json=TRAINING | {"dataset_id": dataset["id"]} | changes
    )
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


def trained_layers(database: Database, model_id: int) -> dict[str, list[np.ndarray]]:
    """The stored .keras model's weights by layer name, and whether every layer is trainable."""
    from keras.src.saving import saving_lib

    with database.factory() as session:
        row = session.get_one(TrainedModel, model_id)
        assert row.keras_sha256 is not None
        data = DatabaseBlobStore(session).get(row.keras_sha256)
    model = saving_lib.load_model(io.BytesIO(data), compile=False)
    assert all(layer.trainable for layer in model.layers)  # a continued training trains it all
    return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


def test_grayscale_training_starts_from_the_cached_imagenet_file(
    client: TestClient, database: Database, weights_dir: Path, local_worker: None
) -> None:
    file = backbone_arrays("mobilenet-v1", 0.25, seed=11)
    write_weights(weights_dir / V1_FILE, file)
    accepted = queue(client, weights="imagenet", epochs=1)
    job = wait_for_job(client, accepted["job_id"])
    assert job["status"] == "succeeded", job
    model = client.get(f"/api/v1/models/{accepted['id']}").json()
    assert model["metrics"]["weights"] == f"imagenet ({V1_FILE})"

    # One epoch is the frozen phase: the backbone is exactly what training started from.
    layers = trained_layers(database, accepted["id"])
    (rgb_kernel,) = file["conv1"]
    assert rgb_kernel.shape == (3, 3, 3, 8)
    assert layers["conv1"][0].shape == (3, 3, 1, 8)
    np.testing.assert_array_equal(layers["conv1"][0], rgb_kernel.sum(axis=2, keepdims=True))
    for name in ("conv_dw_1", "conv_pw_13", "conv1_bn", "conv_pw_13_bn"):
        for found, expected in zip(layers[name], file[name], strict=True):
            np.testing.assert_array_equal(found, expected)


def test_an_uploaded_base_is_frozen_then_fine_tuned_with_batchnorm_kept(
    client: TestClient, database: Database, local_worker: None
) -> None:
    buffer = io.BytesIO()
    file = backbone_arrays("mobilenet-v1", 0.25, seed=12)
    write_weights(buffer, file)
    base = client.post("/api/v1/weights", files={"file": ("mine.h5", buffer.getvalue())}).json()
    accepted = queue(client, weights=base["id"], epochs=2, color_mode="rgb", learning_rate=0.01)
    job = wait_for_job(client, accepted["job_id"])
    assert job["status"] == "succeeded", job
    model = client.get(f"/api/v1/models/{accepted['id']}").json()
    assert model["metrics"]["weights"] == f"uploaded base weights {base['id']}"
    assert [entry["epoch"] for entry in model["history"]] == [1, 2]

    layers = trained_layers(database, accepted["id"])
    # The second epoch fine-tuned the convolutions (rgb: the kernel keeps its 3 channels) ...
    assert layers["conv1"][0].shape == (3, 3, 3, 8)
    assert not np.array_equal(layers["conv1"][0], file["conv1"][0])
    assert np.abs(layers["conv1"][0] - file["conv1"][0]).max() < 0.05  # at a tenth of the rate
    # ... while every BatchNorm stayed in inference mode with the file's statistics.
    for name in ("conv1_bn", "conv_dw_7_bn", "conv_pw_13_bn"):
        for found, expected in zip(layers[name], file[name], strict=True):
            np.testing.assert_array_equal(found, expected)


def test_the_worker_checks_again_and_never_falls_back_to_random_weights(
    client: TestClient, settings: Settings, weights_dir: Path
) -> None:
    from tinymlaas.jobs.worker import local_worker_loop

    write_weights(weights_dir / V1_FILE, backbone_arrays("mobilenet-v1", 0.25))
    accepted = queue(client, weights="imagenet", epochs=1)
    (weights_dir / V1_FILE).unlink()  # an administrator cleaned the cache meanwhile
    stop = threading.Event()
    worker = threading.Thread(target=local_worker_loop, args=(settings, stop), daemon=True)
    worker.start()
    try:
        job = wait_for_job(client, accepted["job_id"])
    finally:
        stop.set()
        worker.join(timeout=120)
    assert job["status"] == "failed", job
    assert f"{V1_FILE} is not in the weights cache and downloads are off" in job["error"]
    assert f"tinymlaas weights import {V1_FILE}" in job["error"]
