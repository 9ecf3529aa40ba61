"""Capture from the device end to end: real server, bridge process and virtual board."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

from devices.test_loop import camera, online_device, start_bridge  # noqa: F401

from support.cli import Cli
from support.factories import labelled_zip
from support.jobs import wait_for_job

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True),
]


def test_frames_from_the_virtual_camera_land_in_the_dataset_folder_as_tagged_pngs(
    api: httpx.Client,
    server_url: str,
    camera: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive, _ = labelled_zip({"bright": 2, "dark": 2})
    dataset = api.post(
        "/datasets/import",
        files={"file": ("d.zip", archive, "application/zip")},
        data={"name": "captures"},
    ).json()
    bridge = api.post("/bridges", json={"name": "test bench"}).json()
    process = start_bridge(server_url, bridge["token"], camera)
    try:
        device = online_device(api)
        url = f"/devices/{device['id']}/capture"
        refused = api.post(url, json={"dataset_id": dataset["id"], "folder": "../up", "count": 2})
        assert refused.status_code == 400
        body = {"dataset_id": dataset["id"], "folder": "new-label", "count": 6, "interval_ms": 50}
        accepted = api.post(url, json=body)
        assert accepted.status_code == 202, accepted.text
        capture = accepted.json()
        job = wait_for_job(api, capture["job_id"], 60)
        assert job["status"] == "succeeded", job
        assert "6 frames stored in new-label" in job["message"]
        capture = api.get(f"/device-captures/{capture['id']}").json()
        assert len(capture["image_ids"]) == 6
        images = api.get(f"/datasets/{dataset['id']}/images", params={"folder": "new-label"}).json()
        assert images["total"] == 6
        assert {image["label"] for image in images["items"]} == {"new-label"}
        first = images["items"][0]
        content = api.get(f"/datasets/{dataset['id']}/images/{first['id']}/content").content
        with Image.open(io.BytesIO(content)) as png:
            assert png.format == "PNG"
            assert png.text["Board"] == "virtual"
            assert "TMLVIRT-0" in png.text["Device"]
            assert png.text["Captured"].startswith("20")

        monkeypatch.setenv("TINYMLAAS_CONFIG_DIR", str(tmp_path / "config"))
        monkeypatch.setenv("TINYMLAAS_SERVER", server_url)
        monkeypatch.setenv("TINYMLAAS_TOKEN", api.headers["Authorization"].removeprefix("Bearer "))
        output = Cli().ok(
            "devices", "capture", str(device["id"]), "--dataset", str(dataset["id"]),
            "--folder", "cli-label", "--count", "3", "--interval-ms", "0",
        )  # fmt: skip
        assert "3 frames stored in dataset" in output
    finally:
        process.kill()
        process.wait()
