"""The train form's Weights choice: none, ImageNet (whether it is cached) and uploaded bases."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from web.test_pages import HTML, csrf_of, log_in

from support.factories import pattern_dataset_zip
from support.weights import weights_bytes

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)
V1_FILE = "mobilenet_2_5_128_tf_no_top.h5"
V1 = {"architecture": "mobilenet-v1", "alpha": "0.25", "input_width": "32", "input_height": "32"}


@pytest.fixture(autouse=True)
def weights_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "weights"
    monkeypatch.setenv("TINYMLAAS_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("TINYMLAAS_WEIGHTS_DOWNLOAD", "false")
    return folder


def test_the_form_offers_imagenet_with_its_state_and_the_users_bases(
    app_client: TestClient, client: TestClient, weights_dir: Path
) -> None:
    dataset = client.post(
        "/api/v1/datasets/import",
        files={"file": ("p.zip", pattern_dataset_zip(per_class=4), "application/zip")},
        data={"name": "patterns"},
    ).json()
    base = client.post(
        "/api/v1/weights",
        files={"file": ("mine.h5", weights_bytes("mobilenet-v1", 0.25))},
        data={"name": "my base"},
    ).json()
    log_in(app_client)
    form = app_client.get("/models/new", headers=HTML).text
    assert 'name="weights"' in form
    assert "ImageNet (Keras)" in form
    assert f'<option value="{base["id"]}"' in form
    assert "my base: mobilenet-v1 α0.25" in form

    query = V1 | {"dataset_id": str(dataset["id"]), "board": "nano33ble"}
    imagenet = app_client.get("/models/estimate", params=query).json()["imagenet"]
    assert (imagenet["available"], imagenet["cached"], imagenet["filename"]) == (
        False, False, V1_FILE,
    )  # fmt: skip
    assert f"tinymlaas weights import {V1_FILE}" in imagenet["problem"]
    weights_dir.mkdir()
    (weights_dir / V1_FILE).write_bytes(weights_bytes("mobilenet-v1", 0.25))
    imagenet = app_client.get("/models/estimate", params=query).json()["imagenet"]
    assert (imagenet["available"], imagenet["cached"]) == (True, True)

    fields = V1 | {"name": "from mine", "dataset_id": str(dataset["id"]), "epochs": "1"}
    posted = app_client.post(
        "/models",
        data=fields | {"weights": str(base["id"]), "csrf_token": csrf_of(form)},
        follow_redirects=False,
    )
    assert posted.status_code == 303, posted.text
    (model,) = client.get("/api/v1/models").json()["items"]
    assert (model["name"], model["config"]["weights"]) == ("from mine", base["id"])
