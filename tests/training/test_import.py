"""Bring your own model: POST /models/import, then compile like a trained model."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tinymlaas.config import Settings
from tinymlaas.models import Blob, Job, TrainedModel
from tinymlaas.training.tflite_reader import read_tflite

from conftest import Database
from support.factories import pattern_dataset_zip
from support.imported_models import (
    CLASSES,
    ImportableModel,
    keras_file_without_config,
    rewrite,
    train_importable_model,
    with_old_converter_bias_dimension,
    with_second_subgraph,
)
from support.jobs import wait_for_job

IMPORT = "/api/v1/models/import"
CLASS_TEXT = ",".join(CLASSES)


@pytest.fixture(scope="session")
def importable() -> ImportableModel:
    return train_importable_model()


def post_model(
    client: TestClient, data: bytes, filename: str = "model.tflite", **fields: Any
) -> Any:
    form = {"classes": CLASS_TEXT} | {key: str(value) for key, value in fields.items()}
    return client.post(IMPORT, files={"file": (filename, data)}, data=form)


def import_patterns(client: TestClient, splits: bool = False) -> int:
    response = client.post(
        "/api/v1/datasets/import",
        files={"file": ("p.zip", pattern_dataset_zip(per_class=8, splits=splits))},
        data={"name": "patterns"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def stored(database: Database) -> tuple[int, int, int]:
    """Models, jobs and blobs in the database."""
    with database.factory() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(table))
            for table in (TrainedModel, Job, Blob)
        )


def compile_for(client: TestClient, model_id: int, **body: Any) -> dict[str, Any]:
    response = client.post(f"/api/v1/models/{model_id}/compile", json={"board": "nano33ble"} | body)
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["job_id"])
    assert job["status"] == "succeeded", job
    compiled: dict[str, Any] = client.get(f"/api/v1/compiled/{response.json()['id']}").json()
    return compiled


@pytest.mark.slow
def test_an_old_converters_tflite_is_imported_and_compiled_with_accuracy(
    client: TestClient, local_worker: None, importable: ImportableModel
) -> None:
    # As older converters wrote it (TFLite-Micro's person-detection model among them): LiteRT
    # alone refuses this file, TFLite-Micro runs it.
    upload = with_old_converter_bias_dimension(importable.tflite_bytes)
    dataset_id = import_patterns(client)

    response = post_model(client, upload, "patterns.tflite", dataset_id=dataset_id)

    assert response.status_code == 201, response.text
    model = response.json()
    assert (model["source"], model["status"], model["job_id"]) == ("imported", "succeeded", None)
    assert model["name"] == "patterns"
    assert model["classes"] == CLASSES  # the output order given, not sorted
    config = model["config"]
    assert (config["input_width"], config["input_height"], config["color_mode"]) == (
        16,
        16,
        "grayscale",
    )
    facts = model["imported"]
    assert facts["format"] == "tflite"
    assert facts["size_bytes"] == len(upload)
    assert facts["input"] == {"shape": [1, 16, 16, 1], "dtype": "int8", "scale": 1.0,
                              "zero_point": -128}  # fmt: skip
    assert facts["output"]["shape"] == [1, 3]
    assert "DEPTHWISE_CONV_2D" in facts["operators"]

    compiled = compile_for(client, model["id"])

    assert 2_000 < compiled["arena_bytes"] < 10_000
    assert compiled["tflite_bytes"] == len(upload)
    assert compiled["fits"] is True
    accuracy = compiled["accuracy"]
    assert accuracy["float"] is None  # a .tflite has no float model
    assert accuracy["images"] == 24  # no split folders: all the dataset's images
    assert accuracy["int8"] >= 0.9
    assert accuracy["tflm"] >= 0.9
    tflite = client.get(f"/api/v1/compiled/{compiled['id']}/files/model.tflite")
    assert tflite.content == upload  # used as it is


@pytest.mark.slow
def test_without_a_dataset_compiling_reports_no_accuracy(
    client: TestClient, local_worker: None, importable: ImportableModel
) -> None:
    model = post_model(client, importable.tflite_bytes, name="bare").json()
    assert model["dataset_id"] is None

    compiled = compile_for(client, model["id"])

    assert compiled["arena_bytes"] > 2_000
    assert compiled["accuracy"] == {"float": None, "int8": None, "tflm": None, "images": 0}


@pytest.mark.slow
def test_held_out_images_are_the_validation_folder_when_there_is_one(
    client: TestClient, importable: ImportableModel, database: Database
) -> None:
    dataset_id = import_patterns(client, splits=True)
    model = post_model(client, importable.tflite_bytes, dataset_id=dataset_id).json()

    with database.factory() as session:
        info = session.get_one(TrainedModel, model["id"]).training_info
    assert info is not None
    assert len(info.held_out_image_ids) == 6  # 2 of 8 per class are in validation/
    assert len(info.train_image_ids) == 18
    assert info.validation_source == "validation folder"


@pytest.mark.slow
def test_an_imported_tflite_cannot_be_compiled_as_float32(
    client: TestClient, importable: ImportableModel
) -> None:
    model = post_model(client, importable.tflite_bytes).json()

    response = client.post(
        f"/api/v1/models/{model['id']}/compile",
        json={"board": "nano33ble", "quantization": "float32"},
    )

    assert response.status_code == 400
    assert "imported as an int8 .tflite, which is compiled as it is" in response.json()["detail"]


def _set_input_shape(shape: list[int]) -> Any:
    def change(tree: Any) -> None:
        graph = tree.subgraphs[0]
        graph.tensors[graph.inputs[0]].shape = shape

    return change


def _set_first_operator_code(code: int) -> Any:
    def change(tree: Any) -> None:
        tree.operatorCodes[0].builtinCode = code
        tree.operatorCodes[0].deprecatedBuiltinCode = min(code, 127)

    return change


def _huge_tensor(tree: Any) -> None:
    tree.subgraphs[0].tensors[-1].shape = [1, 4096, 4096, 8]


def _no_subgraphs(tree: Any) -> None:
    tree.subgraphs = []


@pytest.mark.slow
def test_hostile_or_unusable_files_are_refused_and_nothing_is_stored(
    client: TestClient, importable: ImportableModel, database: Database
) -> None:
    int8 = importable.tflite_bytes
    dataset_id = import_patterns(client)
    float_model = _float_version(importable)
    before = stored(database)
    cases: list[tuple[bytes, str, dict[str, Any], int, str]] = [
        (b"GIF89a, not a model at all", "m.tflite", {}, 400, "not a TFLite flatbuffer"),
        (int8[:8] + b"\xff" * 40, "m.tflite", {}, 400, "corrupt TFLite flatbuffer"),
        (rewrite(int8, _no_subgraphs), "m.tflite", {}, 400, "the model has no subgraph"),
        (rewrite(int8, with_second_subgraph), "m.tflite", {}, 400, "has 2 subgraphs"),
        (rewrite(int8, _set_input_shape([1, 16, 16, 2])), "m.tflite", {}, 400,
         "[1, 16, 16, 2]; an image model's is [1, height, width, channels] (NHWC) with 1"),
        (rewrite(int8, _set_input_shape([16, 16, 1])), "m.tflite", {}, 400, "(NHWC)"),
        (float_model, "m.tflite", {}, 400, "is FLOAT32, not INT8"),
        (rewrite(int8, _huge_tensor), "m.tflite", {}, 400,
         "shape [1, 4096, 4096, 8]) takes 134217728 bytes, over the limit of 16777216"),
        (rewrite(int8, _set_first_operator_code(15)), "m.tflite", {}, 400,
         "operator LSH_PROJECTION is not supported by TFLite-Micro"),
        (rewrite(int8, _set_first_operator_code(250)), "m.tflite", {}, 400,
         "unknown operator code 250"),
        (int8, "m.tflite", {"classes": "a,b"}, 400,
         "the model has 3 outputs (output shape [1, 3]) but 2 class names were given"),
        (int8, "m.tflite", {"classes": "a,,b"}, 400, "at least 2 comma-separated names"),
        (int8, "m.tflite", {"classes": "dark,bright,right", "dataset_id": dataset_id}, 400,
         "['dark', 'bright', 'right'] do not match dataset 'patterns''s labels"
         " ['bright', 'dark', 'left']"),
        (int8, "m.tflite", {"dataset_id": 9999}, 404, "dataset 9999 not found"),
        (importable.keras_bytes, "m.keras", {}, 400, "a .keras import needs dataset_id"),
        (keras_file_without_config(importable.keras_bytes), "m.keras",
         {"dataset_id": dataset_id}, 400, "it has no config.json"),
        (b"PK\x03\x04 truncated", "m.keras", {"dataset_id": dataset_id}, 400, "not a zip"),
        (b"hello", "notes.txt", {}, 400, "neither an int8 TensorFlow Lite model"),
    ]  # fmt: skip
    for data, filename, fields, status, message in cases:
        response = post_model(client, data, filename, **fields)
        assert response.status_code == status, (message, response.text)
        assert message in response.json()["detail"], response.json()["detail"]
    assert stored(database) == before


def _float_version(importable: ImportableModel) -> bytes:
    """The same network converted without quantization (float32 input and output)."""
    import io

    import numpy as np
    from keras.src.saving import saving_lib

    from tinymlaas.compiling.tflite import convert

    model = saving_lib.load_model(io.BytesIO(importable.keras_bytes), compile=False)
    return convert(model, "float32", np.zeros((0, 16, 16, 1), np.uint8))


@pytest.mark.slow
def test_a_file_over_the_size_limit_is_413(
    client: TestClient, importable: ImportableModel, settings: Settings, database: Database
) -> None:
    before = stored(database)
    settings.max_model_import_bytes = len(importable.tflite_bytes) - 1

    response = post_model(client, importable.tflite_bytes)

    assert response.status_code == 413
    assert "over the import limit" in response.json()["detail"]
    assert stored(database) == before


@pytest.mark.slow
def test_truncated_or_corrupted_models_never_crash_the_reader(
    importable: ImportableModel,
) -> None:
    import numpy as np

    from tinymlaas.training.tflite_reader import InvalidModelFile

    model = importable.tflite_bytes
    rng = np.random.default_rng(12)
    variants = [model[:cut] for cut in range(0, len(model), 7)]
    for _ in range(600):
        corrupted = bytearray(model)
        for position in rng.integers(0, len(model), rng.integers(1, 8)):
            corrupted[position] = int(rng.integers(0, 256))
        variants.append(bytes(corrupted))
    outcomes = {"accepted": 0, "refused": 0}
    for variant in variants:
        try:
            read_tflite(variant, 16 * 2**20)
            outcomes["accepted"] += 1
        except InvalidModelFile:
            outcomes["refused"] += 1
    # Flipping bytes of weights leaves a valid model; truncations never do.
    assert outcomes["refused"] > len(model) // 7
    assert outcomes["accepted"] > 0


@pytest.mark.slow
def test_corrupted_uploads_are_4xx_through_the_api(
    client: TestClient, importable: ImportableModel
) -> None:
    model = importable.tflite_bytes
    for cut in (8, 12, 40, 200, len(model) // 2, len(model) - 3):
        response = post_model(client, model[:cut])
        assert response.status_code == 400, response.text
    corrupted = bytearray(model)
    corrupted[4 + 8 : 4 + 16] = b"\xff" * 8  # the root table's offsets
    assert post_model(client, bytes(corrupted)).status_code in (201, 400)


@pytest.mark.slow
def test_a_keras_import_is_validated_by_a_job_then_compiled(
    client: TestClient, local_worker: None, importable: ImportableModel
) -> None:
    dataset_id = import_patterns(client)

    response = post_model(client, importable.keras_bytes, "net.keras", dataset_id=dataset_id)

    assert response.status_code == 201, response.text
    model = response.json()
    assert (model["status"], model["imported"]["format"]) == ("queued", "keras")
    job = wait_for_job(client, model["job_id"])
    assert job["status"] == "succeeded", job
    model = client.get(f"/api/v1/models/{model['id']}").json()
    assert model["status"] == "succeeded"
    assert (model["config"]["input_width"], model["config"]["color_mode"]) == (16, "grayscale")
    assert model["imported"]["input"]["shape"] == [1, 16, 16, 1]
    assert model["parameter_count"] > 50

    compiled = compile_for(client, model["id"])

    accuracy = compiled["accuracy"]
    assert accuracy["images"] == 24
    assert min(accuracy["float"], accuracy["int8"], accuracy["tflm"]) >= 0.9
    assert compiled["arena_bytes"] > 2_000


@pytest.mark.slow
def test_a_keras_file_of_the_wrong_shape_fails_its_validation_job(
    client: TestClient, local_worker: None, importable: ImportableModel
) -> None:
    dataset_id = import_patterns(client)
    response = post_model(
        client,
        importable.keras_bytes,
        "net.keras",
        dataset_id=dataset_id,
        classes="bright,dark,left,top",
    )
    # The dataset has three labels: refused before anything runs.
    assert response.status_code == 400

    # A file Keras cannot load passes the container check and fails in the worker.
    broken = importable.keras_bytes.replace(b"model.weights.h5", b"model.weighXs.h5")
    model = post_model(client, broken, "net.keras", dataset_id=dataset_id).json()
    job = wait_for_job(client, model["job_id"])
    assert job["status"] == "failed"
    model = client.get(f"/api/v1/models/{model['id']}").json()
    assert model["status"] == "failed"
    assert "Keras cannot load the imported file" in model["error"]


@pytest.mark.slow
def test_the_reader_describes_a_real_model(importable: ImportableModel) -> None:
    facts = read_tflite(importable.tflite_bytes, 2**20)

    assert (facts.color_mode, facts.class_count) == ("grayscale", 3)
    assert facts.input.shape == [1, 16, 16, 1]
    assert facts.operators == (
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "MEAN",
        "SOFTMAX",
    )


@pytest.mark.slow
def test_deleting_an_imported_model_frees_its_file(
    client: TestClient, importable: ImportableModel, database: Database
) -> None:
    before = stored(database)
    model = post_model(client, importable.tflite_bytes).json()
    assert stored(database) == (before[0] + 1, before[1], before[2] + 1)

    assert client.delete(f"/api/v1/models/{model['id']}").status_code == 204

    assert stored(database) == before


def _softmax_becomes_tanh(tree: Any) -> None:
    """TANH (which TFLite-Micro runs and the C engine does not) where SOFTMAX was."""
    for code in tree.operatorCodes:
        if code.builtinCode == 25:  # SOFTMAX
            code.builtinCode = code.deprecatedBuiltinCode = 28  # TANH


@pytest.mark.slow
def test_an_operator_the_c_engine_lacks_is_refused_at_once_naming_it(
    client: TestClient, importable: ImportableModel, database: Database
) -> None:
    upload = rewrite(importable.tflite_bytes, _softmax_becomes_tanh)
    model = post_model(client, upload, name="tanh").json()
    assert "TANH" in model["imported"]["operators"]
    jobs_before = stored(database)[1]

    response = client.post(
        f"/api/v1/models/{model['id']}/compile", json={"board": "nano33ble", "engine": "c"}
    )

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "does not support the operator TANH" in detail
    assert "compile it with the tflm engine" in detail
    assert stored(database)[1] == jobs_before  # no job queued
    tflm = client.post(f"/api/v1/models/{model['id']}/compile", json={"board": "nano33ble"})
    assert tflm.status_code == 202


@pytest.mark.slow
def test_an_imported_tflite_compiles_with_the_c_engine_identical_to_tflite_micro(
    client: TestClient, local_worker: None, importable: ImportableModel
) -> None:
    dataset_id = import_patterns(client)
    model = post_model(client, importable.tflite_bytes, dataset_id=dataset_id).json()

    compiled = compile_for(client, model["id"], engine="c")

    assert compiled["engine"] == "c"
    accuracy = compiled["accuracy"]
    assert accuracy["images"] == 24
    assert accuracy["c"] == accuracy["tflm"] >= 0.9  # byte-identical outputs, image by image
    activation = compiled["activation"]
    assert 0 < activation["peak_bytes"] < compiled["arena_bytes"]
    # Without in-place operators this model's plan is at least its per-operator floor.
    ordinary = activation["peak_bytes"] + activation["in_place_saved_bytes"]
    assert ordinary >= activation["floor_bytes"] > 0
    measured = compiled["measured"]  # on the Nano 33 BLE's core, under QEMU
    assert (measured["core"], measured["outputs_match_host"]) == ("cortex-m4f", True)
    assert measured["instructions"] > 0
    assert compiled["fit_detail"]["engine"] == "c"
    ram_labels = [part["label"] for part in compiled["fit_detail"]["ram"]["parts"]]
    assert ram_labels[0] == "model program RAM with stack (measured on cortex-m4f)"
    flash_labels = [part["label"] for part in compiled["fit_detail"]["flash"]["parts"]]
    assert "C engine code (measured on cortex-m4f)" in flash_labels
    names = {
        f["name"] for f in client.get(f"/api/v1/compiled/{compiled['id']}/files").json()["items"]
    }
    assert {"c_library.zip", "arduino_library.zip", "model.tflite", "manifest.json"} <= names
    manifest = client.get(f"/api/v1/compiled/{compiled['id']}/files/manifest.json").json()
    assert manifest["engine"] == "c"
