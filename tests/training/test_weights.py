"""Pretrained starting weights through the API: the ImageNet cache, uploaded bases, refusals."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tinymlaas.contracts import TrainingConfig
from tinymlaas.models import BaseWeights, Blob, TrainedModel

from conftest import Database
from support.models import start_training
from support.weights import backbone_arrays, weights_bytes, write_weights

V1_FILE = "mobilenet_2_5_128_tf_no_top.h5"
MOBILENET = {"architecture": "mobilenet-v1", "alpha": 0.25, "input_width": 32, "input_height": 32}


@pytest.fixture(autouse=True)
def weights_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty weights cache, downloads off (the tests have no internet), for the API and
    the workers this test starts (built after this fixture, they read the environment)."""
    folder = tmp_path / "weights"
    monkeypatch.setenv("TINYMLAAS_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("TINYMLAAS_WEIGHTS_DOWNLOAD", "false")
    return folder


def stored(database: Database) -> tuple[int, ...]:
    """Models, base weights and blobs in the database."""
    with database.factory() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (TrainedModel, BaseWeights, Blob)
        )


def upload(client: TestClient, data: bytes, filename: str = "base.h5", **form: str) -> Any:
    return client.post("/api/v1/weights", files={"file": (filename, data)}, data=form)


def train_request(client: TestClient, **changes: object) -> Any:
    """POST /models on the pattern dataset; the response, whatever its status."""
    imported = client.post(
        "/api/v1/datasets/import",
        files={"file": ("p.zip", _patterns(), "application/zip")},
        data={"name": f"patterns-{len(changes)}-{id(changes)}"},
    ).json()
    body = {"name": "t", "dataset_id": imported["id"], "epochs": 1} | changes
    return client.post("/api/v1/models", json=body)


def _patterns() -> bytes:
    from support.factories import pattern_dataset_zip

    return pattern_dataset_zip(per_class=4)


def test_configs_stored_before_weights_existed_trained_from_random_weights() -> None:
    config = TrainingConfig.model_validate({"architecture": "cnn-small", "alpha": 1.0})
    assert config.weights == "none"
    assert TrainingConfig.model_validate_json(config.model_dump_json()).weights == "none"


def test_imagenet_weights_missing_from_the_cache_are_refused_saying_how_to_provide_them(
    client: TestClient, database: Database, weights_dir: Path
) -> None:
    response = train_request(client, **MOBILENET, weights="imagenet")
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert V1_FILE in detail
    assert f"tinymlaas weights import {V1_FILE}" in detail
    assert "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/" in detail
    assert stored(database)[0] == 0

    status = client.get(
        "/api/v1/weights/imagenet", params={"architecture": "mobilenet-v1", "alpha": 0.25}
    ).json()
    assert (status["available"], status["cached"], status["filename"]) == (False, False, V1_FILE)

    weights_dir.mkdir()
    (weights_dir / V1_FILE).write_bytes(weights_bytes("mobilenet-v1", 0.25))
    response = train_request(client, **MOBILENET, weights="imagenet")
    assert response.status_code == 202, response.text
    model = client.get(f"/api/v1/models/{response.json()['id']}").json()
    assert model["config"]["weights"] == "imagenet"
    status = client.get(
        "/api/v1/weights/imagenet", params={"architecture": "mobilenet-v1", "alpha": 0.25}
    ).json()
    assert (status["available"], status["cached"]) == (True, True)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({**MOBILENET, "alpha": 0.1}, "Keras publishes α 0.25, 0.5, 0.75, 1"),
        ({"architecture": "cnn-small", "alpha": 1.0}, "no ImageNet weights are published for"),
        ({**MOBILENET, "weights": 9999}, "base weights 9999 not found"),
    ],
)
def test_weights_that_do_not_exist_are_a_clear_4xx(
    client: TestClient, database: Database, changes: dict[str, Any], message: str
) -> None:
    response = train_request(client, **({"weights": "imagenet"} | changes))
    assert response.status_code in (400, 404), response.text
    assert message in response.json()["detail"]
    assert stored(database)[0] == 0


def test_a_continued_model_cannot_ask_for_other_weights(client: TestClient) -> None:
    accepted = start_training(client)
    base = client.get(f"/api/v1/models/{accepted['id']}").json()
    body = {"name": "v2", "dataset_id": base["dataset_id"], "base_model_id": base["id"]}
    response = client.post("/api/v1/models", json=body | {"weights": "imagenet"})
    assert response.status_code == 400, response.text
    assert "starts from its base model's weights" in response.json()["detail"]


def test_an_uploaded_base_is_described_listed_used_and_deleted(
    client: TestClient, database: Database
) -> None:
    response = upload(client, weights_bytes("mobilenet-v2", 0.35, channels=1), name="gray v2")
    assert response.status_code == 201, response.text
    base = response.json()
    assert (base["name"], base["architecture"], base["alpha"], base["channels"]) == (
        "gray v2",
        "mobilenet-v2",
        0.35,
        1,
    )
    assert base["layer_count"] == 104
    assert base["parameter_count"] == 409920
    assert client.get("/api/v1/weights").json()["total"] == 1
    assert upload(client, weights_bytes("mobilenet-v2", 0.35), name="gray v2").status_code == 409

    v2 = {"architecture": "mobilenet-v2", "alpha": 0.35, "input_width": 32, "input_height": 32}
    wrong_alpha = train_request(client, **(v2 | {"alpha": 0.1}), weights=base["id"])
    assert wrong_alpha.status_code == 400
    assert (
        "mobilenet-v2 α0.35 backbone; train mobilenet-v2 with alpha 0.35"
        in (wrong_alpha.json()["detail"])
    )
    rgb = train_request(client, **v2, color_mode="rgb", weights=base["id"])
    assert rgb.status_code == 400
    assert "take grayscale input" in rgb.json()["detail"]
    accepted = train_request(client, **v2, weights=base["id"])
    assert accepted.status_code == 202, accepted.text

    assert client.delete(f"/api/v1/weights/{base['id']}").status_code == 204
    assert client.get(f"/api/v1/weights/{base['id']}").status_code == 404
    assert train_request(client, **v2, weights=base["id"]).status_code == 404


def _mutated(change: Callable[[h5py.File], None], full_model: bool = False) -> bytes:
    buffer = io.BytesIO()
    write_weights(buffer, backbone_arrays("mobilenet-v1", 0.25), full_model=full_model)
    with h5py.File(buffer, "a") as file:
        change(file)
    return buffer.getvalue()


def _replace(path: str, **dataset: Any) -> Callable[[h5py.File], None]:
    def change(file: h5py.File) -> None:
        del file[path]
        file.create_dataset(path, **dataset)

    return change


def _link(path: str, link: Any) -> Callable[[h5py.File], None]:
    def change(file: h5py.File) -> None:
        del file[path]
        file[path] = link

    return change


def _drop_layer(file: h5py.File) -> None:
    names = [name for name in file.attrs["layer_names"] if name != b"conv_pw_13_bn"]
    file.attrs["layer_names"] = np.array(names, dtype="S")


def test_hostile_or_unsuitable_files_are_refused_and_nothing_is_stored(
    client: TestClient, database: Database, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.zeros(3 * 3 * 3 * 8, np.float32).tobytes())
    kernel = "conv1/conv1/kernel:0"
    outside = [(str(secret), 0, 3 * 3 * 3 * 8 * 4)]
    before = stored(database)
    cases = [
        (b"GIF89a not weights", "not a Keras HDF5 weights file"),
        (b"PK\x03\x04 a .keras zip", "keras.saving.load_model('base.keras').save('base.h5')"),
        (weights_bytes("mobilenet-v1", 0.25)[:5000], "unreadable HDF5 weights file"),
        (_mutated(_link(kernel, h5py.ExternalLink(str(secret), "/x"))), "links are not accepted"),
        (_mutated(_link(kernel, h5py.SoftLink("/conv_pw_1"))), "links are not accepted"),
        (_mutated(_replace(kernel, shape=(3, 3, 3, 8), dtype="f4", external=outside)),
         "refers to data outside"),
        (_mutated(_replace(kernel, data=np.ones((3, 3, 3, 8), np.int32))), "expected floating"),
        (_mutated(_replace(kernel, data=np.full((3, 3, 3, 8), np.nan, np.float32))), "NaN"),
        (_mutated(_drop_layer), "closest is mobilenet-v1 α0.25: layer 'conv_pw_13_bn' is missing"),
        (weights_bytes("mobilenet-v1", 0.75), "no complete backbone of a trainable architecture"),
    ]  # fmt: skip
    for data, message in cases:
        response = upload(client, data)
        assert response.status_code == 400, (message, response.text)
        assert message in response.json()["detail"], response.json()["detail"]
    assert stored(database) == before
    full = upload(client, _mutated(lambda file: None, full_model=True), name="saved model")
    assert full.status_code == 201, full.text
    assert full.json()["architecture"] == "mobilenet-v1"
