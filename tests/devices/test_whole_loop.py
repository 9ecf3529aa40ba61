"""The whole loop through a board, on one virtual device: train → compile → install → test on
the device → capture frames into a new folder → doubtful predictions land in review → relabel
some → continue training → the new model names the dataset version it learnt from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.factories import pattern_camera
from support.jobs import wait_for_job
from support.models import train_and_compile
from support.waiting import wait_for

from devices.test_loop import online_device, start_bridge  # isort: skip

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True),
]
KEPT = 4  # the capture rule's hourly cap: frames that reach review
CAPTURED = 20


def succeeded(api: httpx.Client, response: httpx.Response, timeout: float = 120) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    job = wait_for_job(api, response.json()["job_id"], timeout)
    assert job["status"] == "succeeded", job
    return dict(response.json())


def test_train_install_test_capture_review_and_continue_on_a_virtual_board(
    api: httpx.Client, server_url: str, local_worker: None, tmp_path: Path
) -> None:
    compiled_id = train_and_compile(api)
    first = api.get(f"/models/{api.get(f'/compiled/{compiled_id}').json()['model_id']}").json()
    dataset_id = first["dataset_id"]
    camera = pattern_camera(tmp_path / "camera", per_class=4, seed=70_000)
    bridge = api.post("/bridges", json={"name": "whole loop"}).json()
    process = start_bridge(server_url, bridge["token"], camera)
    try:
        device = online_device(api)
        device_url = f"/devices/{device['id']}"
        # Every int8 score is below 1.0: every prediction is doubtful, the hourly cap decides.
        rule = {"dataset_id": dataset_id, "below_score": 1.0, "max_per_hour": KEPT}
        assert api.put(f"{device_url}/capture-rule", json=rule).status_code == 200
        succeeded(api, api.post(f"{device_url}/install", json={"compiled_id": compiled_id}), 60)

        # Test on the device: the virtual board computes exactly what the host does.
        test = succeeded(api, api.post(f"{device_url}/test", json={}))
        report = api.get(f"/device-tests/{test['id']}").json()["report"]
        assert report["images"] == report["answered"] == test["images"] > 0
        assert report["agreement"]["top1"] == 1.0

        # Capture frames into a new folder of an existing label.
        capture = {"dataset_id": dataset_id, "folder": "captured/dark", "count": CAPTURED}
        succeeded(api, api.post(f"{device_url}/capture", json=capture | {"interval_ms": 0}))
        folder = api.get(f"/datasets/{dataset_id}/images", params={"folder": "captured/dark"})
        assert folder.json()["total"] == CAPTURED

        # Doubtful predictions wait in review: relabel two, accept the others.
        review = f"/datasets/{dataset_id}/review"
        items = wait_for(
            lambda: (page := api.get(review).json())["total"] >= KEPT and page["items"],
            60,
            f"{KEPT} frames in review",
        )
        relabelled = api.post(
            f"{review}/relabel", json={"ids": [item["id"] for item in items[:2]], "label": "left"}
        )
        assert relabelled.status_code == 200, relabelled.text
        accepted = api.post(f"{review}/accept", json={"ids": [item["id"] for item in items[2:]]})
        assert accepted.status_code == 200, accepted.text
        assert api.get(review).json()["total"] == 0
    finally:
        process.kill()
        process.wait()

    # Continue training from the deployed model on the dataset as it is now.
    continued = api.post(
        "/models",
        json={"name": "patterns, reviewed", "dataset_id": dataset_id, "base_model_id": first["id"]},
    )
    model = succeeded(api, continued, 240)
    model = api.get(f"/models/{model['id']}").json()
    assert model["dataset_version"] > first["dataset_version"]
    diff = api.get(
        f"/datasets/{dataset_id}/versions/diff",
        params={"from": first["dataset_version"], "to": model["dataset_version"]},
    ).json()
    assert diff["added"] == CAPTURED + KEPT, diff

    compiled = succeeded(
        api, api.post(f"/models/{model['id']}/compile", json={"board": "virtual"}), 240
    )
    manifest = json.loads(api.get(f"/compiled/{compiled['id']}/files/manifest.json").content)
    assert manifest["dataset"]["id"] == dataset_id
    assert manifest["dataset"]["version"] == model["dataset_version"]
