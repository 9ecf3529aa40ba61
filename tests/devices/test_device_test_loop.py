"""Test on device end to end: real server, worker, bridge process and virtual board."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from devices.test_loop import camera, compiled_id, online_device, start_bridge  # noqa: F401

from support.cli import Cli
from support.jobs import wait_for_job
from support.waiting import wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True),
]


def installed_device(
    api: httpx.Client,
    server_url: str,
    compiled_id: int,  # noqa: F811
    camera: Path,  # noqa: F811
) -> Any:
    """Start a bridge with one virtual board and install the compiled model on it."""
    bridge = api.post("/bridges", json={"name": "test bench"}).json()
    process = start_bridge(server_url, bridge["token"], camera)
    device = online_device(api)
    install = api.post(f"/devices/{device['id']}/install", json={"compiled_id": compiled_id})
    assert install.status_code == 202, install.text
    job = wait_for_job(api, install.json()["job_id"], 60)
    assert job["status"] == "succeeded", job
    wait_for(
        lambda: api.get(f"/devices/{device['id']}").json()["running_model_id"] != "none",
        30,
        "the board announcing the model",
    )
    return process, device


def test_a_model_tested_on_the_virtual_board_agrees_with_the_host(
    api: httpx.Client,
    server_url: str,
    compiled_id: int,  # noqa: F811
    camera: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    process, device = installed_device(api, server_url, compiled_id, camera)
    try:
        url = f"/devices/{device['id']}/test"
        # Refused up front: no test split, a compiled model that is not installed.
        refused = api.post(url, json={"split": "test"})
        assert refused.status_code == 400
        assert "no images in its test split" in refused.json()["detail"]
        assert api.post(url, json={"compiled_id": compiled_id + 99}).status_code == 404

        accepted = api.post(url, json={})
        assert accepted.status_code == 202, accepted.text
        body = accepted.json()
        assert body["images"] > 0
        assert api.post(url, json={}).status_code == 409  # one test at a time per board
        job = wait_for_job(api, body["job_id"], 120)
        assert job["status"] == "succeeded", job
        test = api.get(f"/device-tests/{body['id']}").json()
        report = test["report"]
        assert (test["stage"], test["compiled_id"]) == ("done", compiled_id)
        assert report["images"] == report["answered"] == body["images"]
        assert report["timeouts"] == report["errors"] == 0
        # A virtual board computes what the host computes, byte for byte.
        assert report["agreement"] == {
            "top1": 1.0, "scores_within_one_step": 1.0, "identical_outputs": 1.0,
        }  # fmt: skip
        assert report["device_accuracy"] == report["host_accuracy"] >= 0.6
        assert report["disagreements"] == []
        assert sum(row["images"] for row in report["per_class"]) == body["images"]
        assert sum(map(sum, report["confusion"])) == body["images"]
        assert report["confusion_labels"][-1] == "no answer"
        assert 0 < report["latency_us"]["p50"] <= report["latency_us"]["p95"]
        assert report["images_per_second"] >= 50

        limited = api.post(url, json={"split": "all", "limit": 7}).json()
        assert limited["images"] == 7
        assert wait_for_job(api, limited["job_id"], 120)["status"] == "succeeded"
        listed = api.get("/device-tests", params={"compiled_id": compiled_id}).json()
        assert [item["id"] for item in listed["items"]] == [limited["id"], body["id"]]

        monkeypatch.setenv("TINYMLAAS_CONFIG_DIR", str(tmp_path / "config"))
        monkeypatch.setenv("TINYMLAAS_SERVER", server_url)
        monkeypatch.setenv("TINYMLAAS_TOKEN", api.headers["Authorization"].removeprefix("Bearer "))
        monkeypatch.setenv("COLUMNS", "200")
        cli = Cli()
        output = cli.ok("devices", "test", str(device["id"]), "--limit", "5", "--watch")
        assert "host agreement" in output
        assert "100.0%" in output
    finally:
        process.kill()
        process.wait()
