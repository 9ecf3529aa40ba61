"""Train a real tiny model and compile it, through the API and a real worker, on each backend."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from fastapi.testclient import TestClient

from support.factories import pattern_image
from support.jobs import parse_sse, wait_for_job
from support.models import start_training

pytestmark = pytest.mark.slow


def test_train_then_compile_for_a_board(client: TestClient, local_worker: None) -> None:
    accepted = start_training(client)
    job = wait_for_job(client, accepted["job_id"])
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0

    model = client.get(f"/api/v1/models/{accepted['id']}").json()
    assert model["status"] == "succeeded"
    assert model["classes"] == ["bright", "dark", "left"]
    assert [entry["epoch"] for entry in model["history"]] == [1, 2, 3, 4, 5, 6]
    assert model["parameter_count"] > 100
    metrics = model["metrics"]
    assert metrics["val_accuracy"] >= 0.8
    assert set(metrics["per_class"]) == {"bright", "dark", "left"}
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.shape == (3, 3)
    assert matrix.sum() == metrics["evaluated_images"] > 0
    assert sum(c["support"] for c in metrics["per_class"].values()) == matrix.sum()

    compile_response = client.post(
        f"/api/v1/models/{accepted['id']}/compile",
        json={"board": "nano33ble", "quantization": "int8"},
    )
    assert compile_response.status_code == 202
    compiled_id = compile_response.json()["id"]
    job = wait_for_job(client, compile_response.json()["job_id"])
    assert job["status"] == "succeeded", job

    compiled = client.get(f"/api/v1/compiled/{compiled_id}").json()
    assert compiled["fits"] is True
    assert compiled["arena_bytes"] > 1000
    assert compiled["ram_estimate_bytes"] > compiled["arena_bytes"]
    assert compiled["flash_estimate_bytes"] > compiled["tflite_bytes"] > 1000
    assert compiled["input"]["dtype"] == "int8"
    assert compiled["fit_detail"]["ram"]["limit_bytes"] == 256 * 1024
    accuracy = compiled["accuracy"]
    assert accuracy["float"] >= 0.8
    # TFLM and LiteRT may round one layer differently (one int8 step), never by a whole image
    assert abs(accuracy["tflm"] - accuracy["int8"]) <= 1 / accuracy["images"]
    assert abs(accuracy["int8"] - accuracy["float"]) <= 0.2

    names = {f["name"] for f in client.get(f"/api/v1/compiled/{compiled_id}/files").json()["items"]}
    assert names == {
        "model.tflite",
        "model_data.h",
        "model_data.cc",
        "arduino_library.zip",
        "manifest.json",
    }
    base = f"/api/v1/compiled/{compiled_id}/files"
    tflite_model = client.get(f"{base}/model.tflite").content
    assert len(tflite_model) == compiled["tflite_bytes"]
    manifest = json.loads(client.get(f"{base}/manifest.json").content)
    assert manifest["classes"] == model["classes"]
    import hashlib

    assert manifest["files"]["model.tflite"]["sha256"] == hashlib.sha256(tflite_model).hexdigest()
    library = zipfile.ZipFile(io.BytesIO(client.get(f"{base}/arduino_library.zip").content))
    assert any(name.endswith("library.properties") for name in library.namelist())
    assert client.get(f"{base}/nope.bin").status_code == 404

    # the downloaded model runs in LiteRT and tells the classes apart
    from tinymlaas.compiling import litert
    from tinymlaas.training.preprocess import batch_to_pixels

    samples = [pattern_image(kind, seed=9000 + kind) for kind in (1, 0, 2)]
    scores = litert.predict(tflite_model, batch_to_pixels(samples, 16, 16, "grayscale"))
    assert list(np.argmax(scores, axis=1)) == [0, 1, 2]  # bright, dark, left


def test_progress_streams_as_server_sent_events(client: TestClient, local_worker: None) -> None:
    accepted = start_training(client, epochs=3)
    with client.stream("GET", f"/api/v1/jobs/{accepted['job_id']}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = parse_sse("".join(response.iter_text()))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "state"
    assert [data["epoch"] for kind, data in events if kind == "metric"] == [1, 2, 3]
    assert events[-1] == ("state", events[-1][1])
    assert events[-1][1]["status"] == "succeeded"
    progress = [data["progress"] for kind, data in events if kind == "progress"]
    assert progress == sorted(progress)


def test_cancel_stops_a_running_training(client: TestClient, local_worker: None) -> None:
    accepted = start_training(client, epochs=500)
    job_url = f"/api/v1/jobs/{accepted['job_id']}"
    wait_for_job(client, accepted["job_id"], 120, lambda job: job["progress"] >= 0.2, "starting")
    assert client.post(f"{job_url}/cancel").json()["status"] == "running"
    job = wait_for_job(client, accepted["job_id"], timeout=60)
    assert job["status"] == "cancelled"
    model = client.get(f"/api/v1/models/{accepted['id']}").json()
    assert model["status"] == "cancelled"
    assert len(model["history"]) < 500
