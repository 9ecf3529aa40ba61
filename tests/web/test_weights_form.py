"""The train form's Weights choice: none, ImageNet (whether it is cached) and uploaded bases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


@pytest.mark.slow
def test_the_weights_choice_follows_the_architecture_in_a_browser(
    server_url: str, browser_context: Any, client: TestClient, weights_dir: Path
) -> None:
    from playwright.sync_api import expect

    from web.test_browser import log_in as log_in_browser

    from conftest import ADMIN_PASSWORD

    client.post(
        "/api/v1/datasets/import",
        files={"file": ("p.zip", pattern_dataset_zip(per_class=4), "application/zip")},
        data={"name": "patterns"},
    )
    client.post("/api/v1/weights", files={"file": ("mine.h5", weights_bytes("mobilenet-v1", 0.25))})
    weights_dir.mkdir()
    (weights_dir / V1_FILE).write_bytes(weights_bytes("mobilenet-v1", 0.25))
    page = browser_context.new_page()
    log_in_browser(page, server_url, "admin", ADMIN_PASSWORD)
    page.goto(f"{server_url}/models/new")
    imagenet = page.locator("#weights-imagenet")
    mine = page.locator("#weights option", has_text="mine: mobilenet-v1 α0.25")

    page.get_by_label("Architecture").select_option("mobilenet-v1")
    page.get_by_label("Width α").select_option("0.25")
    expect(imagenet).to_have_text("ImageNet (Keras, cached)")
    expect(mine).to_be_enabled()
    page.get_by_label("Weights").select_option(label="mine: mobilenet-v1 α0.25")
    expect(page.locator("#weights-help")).to_contain_text(f"Starts from {V1_FILE}")

    page.get_by_label("Width α").select_option("0.1")
    expect(imagenet).to_be_disabled()
    expect(imagenet).to_have_text("ImageNet (Keras, not available)")
    expect(page.locator("#weights-help")).to_contain_text("Keras publishes α 0.25, 0.5")
    expect(mine).to_be_disabled()
    expect(page.get_by_label("Weights")).to_have_value("none")


def test_the_model_page_says_what_training_started_from(
    app_client: TestClient, client: TestClient, weights_dir: Path
) -> None:
    weights_dir.mkdir()
    (weights_dir / V1_FILE).write_bytes(weights_bytes("mobilenet-v1", 0.25))
    dataset = client.post(
        "/api/v1/datasets/import",
        files={"file": ("p.zip", pattern_dataset_zip(per_class=4), "application/zip")},
        data={"name": "patterns"},
    ).json()
    body = {k: float(v) if k == "alpha" else int(v) for k, v in V1.items() if k != "architecture"}
    accepted = client.post(
        "/api/v1/models",
        json=body | {"architecture": "mobilenet-v1", "name": "pre", "dataset_id": dataset["id"],
                     "weights": "imagenet"},
    ).json()  # fmt: skip
    log_in(app_client)
    page = app_client.get(f"/models/{accepted['id']}", headers=HTML).text
    assert "· from ImageNet weights" in page
