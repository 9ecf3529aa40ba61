"""The compile job with engine "c" on a model trained here, through the API and a real worker."""

from __future__ import annotations

import io
import zipfile

import pytest
from fastapi.testclient import TestClient

from support.jobs import wait_for_job
from support.models import start_training

pytestmark = pytest.mark.slow


def test_a_trained_model_compiles_to_c_identical_to_tflite_micro(
    client: TestClient, local_worker: None
) -> None:
    accepted = start_training(client, epochs=2)
    assert wait_for_job(client, accepted["job_id"])["status"] == "succeeded"

    response = client.post(
        f"/api/v1/models/{accepted['id']}/compile", json={"board": "nano33ble", "engine": "c"}
    )
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["job_id"])
    assert job["status"] == "succeeded", job

    compiled = client.get(f"/api/v1/compiled/{response.json()['id']}").json()
    assert (compiled["engine"], compiled["quantization"]) == ("c", "int8")
    accuracy = compiled["accuracy"]
    assert accuracy["images"] > 0
    # Every held-out image gave byte-identical int8 outputs, so the accuracies are equal.
    assert accuracy["c"] == accuracy["tflm"]
    assert accuracy["float"] is not None
    assert accuracy["int8"] is not None
    activation = compiled["activation"]
    assert 0 < activation["peak_bytes"] < compiled["arena_bytes"]  # the TFLM arena, measured
    # Its first convolution and pool run in place: below the per-operator floor, by what the
    # plan without in-place operators needs more (no element-wise step here, so that plan
    # cannot be below the floor).
    assert activation["peak_bytes"] < activation["floor_bytes"]
    ordinary = activation["peak_bytes"] + activation["in_place_saved_bytes"]
    assert ordinary >= activation["floor_bytes"]
    # Measured on the Nano 33 BLE's core: the flash and RAM the fit counts are the program's.
    measured = compiled["measured"]
    assert (measured["core"], measured["outputs_match_host"]) == ("cortex-m4f", True)
    assert measured["ram_bytes"] >= activation["peak_bytes"] + measured["stack_bytes"]
    assert measured["instructions"] > 0
    assert measured["latency_ms_estimate"] > 0
    ram = compiled["fit_detail"]["ram"]
    assert ram["parts"][0] == {
        "label": "model program RAM with stack (measured on cortex-m4f)",
        "bytes": measured["ram_bytes"],
    }
    assert compiled["ram_estimate_bytes"] == ram["estimate_bytes"]
    assert "measured on cortex-m4f under QEMU" in compiled["fit_detail"]["basis"]
    base = f"/api/v1/compiled/{compiled['id']}/files"
    names = {f["name"] for f in client.get(base).json()["items"]}
    assert {"c_library.zip", "arduino_library.zip"} <= names
    arduino = zipfile.ZipFile(io.BytesIO(client.get(f"{base}/arduino_library.zip").content))
    sources = {name.rsplit("/", 1)[-1] for name in arduino.namelist() if "/src/" in name}
    assert {"tinymlaas_model.c", "tinymlaas_model.h", "tinymlaas_protocol.h"} <= sources
    assert "model_data.cc" not in sources  # the generated C, not the .tflite array
    [properties] = [name for name in arduino.namelist() if name.endswith("library.properties")]
    assert "depends=" not in arduino.read(properties).decode()
    library = zipfile.ZipFile(io.BytesIO(client.get(f"{base}/c_library.zip").content))
    assert {"tinymlaas_model.h", "tinymlaas_model.c", "Makefile", "README.md",
            "examples/main.c"} <= set(library.namelist())  # fmt: skip
