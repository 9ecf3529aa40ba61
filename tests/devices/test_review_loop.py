"""The review loop with a real bridge: a virtual device's doubtful predictions send their
camera frame, through the bridge, into a dataset's review queue, within the hourly cap."""

from __future__ import annotations

from pathlib import Path

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
CAP = 4


def test_doubtful_predictions_of_a_virtual_device_land_in_review(
    api: httpx.Client, server_url: str, local_worker: None, tmp_path: Path
) -> None:
    compiled_id = train_and_compile(api)
    camera = pattern_camera(tmp_path / "camera", per_class=4, seed=60_000)
    dataset_id = next(d["id"] for d in api.get("/datasets").json()["items"])
    bridge = api.post("/bridges", json={"name": "review bench"}).json()
    process = start_bridge(server_url, bridge["token"], camera)
    try:
        device = online_device(api)
        # Every prediction of an int8 model scores below 1.0: all are doubtful, the cap decides.
        rule = {"dataset_id": dataset_id, "below_score": 1.0, "max_per_hour": CAP}
        assert api.put(f"/devices/{device['id']}/capture-rule", json=rule).status_code == 200
        install = api.post(f"/devices/{device['id']}/install", json={"compiled_id": compiled_id})
        assert wait_for_job(api, install.json()["job_id"], 60)["status"] == "succeeded"

        url = f"/datasets/{dataset_id}/review"
        items = wait_for(
            lambda: (page := api.get(url).json())["total"] >= CAP and page["items"],
            60,
            f"{CAP} frames in review",
        )
        observations = api.get(
            f"/devices/{device['id']}/observations", params={"limit": 1000}
        ).json()["items"]
        # Well past the cap, nothing more was kept.
        wait_for(
            lambda: (
                api.get(f"/devices/{device['id']}/observations").json()["total"]
                >= len(observations) + 20
            ),
            30,
            "20 more predictions",
        )
        assert api.get(url).json()["total"] == CAP
        assert api.get(f"/devices/{device['id']}/capture-rule").json()["kept_last_hour"] == CAP

        ours = [o for o in observations if o["compiled_id"] == compiled_id]
        for item in items:
            assert item["device_id"] == device["id"]
            assert item["compiled_id"] == compiled_id
            assert item["reason"] == "below_score"
            # The frame is the camera image the board predicted on (PNG, passed through).
            (observation,) = [o for o in ours if o["seq"] == item["seq"]][-1:]
            assert item["label"] == observation["label"]
            assert item["scores"] == pytest.approx(observation["scores"])
            frame = api.get(f"{url}/{item['id']}/content").content
            assert frame == (camera / observation["source"]).read_bytes()

        # Filed into the dataset: accepted under its predicted label.
        first = items[0]
        done = api.post(f"{url}/accept", json={"ids": [first["id"]]}).json()
        image = api.get(f"/datasets/{dataset_id}/images/{done['image_ids'][0]}").json()
        assert image["label"] == first["label"]
        assert process.poll() is None
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
