"""Versions made by concurrent requests against a live server: numbers stay unique, and
concurrent trainings of an unchanged dataset share one version."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from conftest import ADMIN_PASSWORD
from support.factories import labelled_zip

pytestmark = pytest.mark.slow


@pytest.fixture
def http(server_url: str) -> httpx.Client:
    token = httpx.post(
        f"{server_url}/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
    ).json()["access_token"]
    return httpx.Client(
        base_url=f"{server_url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=120
    )


def test_concurrent_snapshots_and_trainings_make_one_version(http: httpx.Client) -> None:
    data, _ = labelled_zip({"cat": 20, "dog": 20})
    dataset = http.post(
        "/datasets/import", files={"file": ("p.zip", data, "application/zip")}, data={"name": "p"}
    ).json()

    def request(worker: int) -> tuple[int, int | None]:
        if worker % 2:
            response = http.post(f"/datasets/{dataset['id']}/versions", json={"note": "x"})
            return response.status_code, None
        body = {"name": f"m{worker}", "dataset_id": dataset["id"], "architecture": "cnn-small"}
        response = http.post("/models", json=body)
        assert response.status_code == 202, response.text
        model = http.get(f"/models/{response.json()['id']}").json()
        return response.status_code, model["dataset_version"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(request, range(8)))
    snapshots = sorted(status for status, version in results if version is None)
    trainings = [(status, version) for status, version in results if version is not None]
    # whoever came first made version 1; every other snapshot found nothing new
    assert snapshots in ([201, 409, 409, 409], [409, 409, 409, 409])
    assert trainings == [(202, 1)] * 4
    listed = http.get(f"/datasets/{dataset['id']}/versions").json()
    assert [item["number"] for item in listed["items"]] == [1]
    assert len(listed["items"][0]["models"]) == 4
