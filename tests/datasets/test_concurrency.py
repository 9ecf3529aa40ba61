"""Many clients at once against a live server: nothing lost, nothing duplicated."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from tinymlaas.models import Blob, Image

from conftest import ADMIN_PASSWORD, Database
from support.factories import image_bytes, zip_bytes

pytestmark = pytest.mark.slow


@pytest.fixture
def http(server_url: str) -> httpx.Client:
    token = httpx.post(
        f"{server_url}/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
    ).json()["access_token"]
    return httpx.Client(
        base_url=f"{server_url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=120
    )


def count(database: Database, query: object) -> int:
    with database.factory() as session:
        return int(session.scalar(query) or 0)  # type: ignore[call-overload]


def test_twenty_concurrent_appends_into_one_dataset(http: httpx.Client, database: Database) -> None:
    dataset = http.post("/datasets", json={"name": "busy"}).json()
    shared = image_bytes(color=(1, 2, 3))  # every request also sends these same bytes

    def append(worker: int) -> int:
        files = [
            ("files", (f"{worker}-a.png", image_bytes(color=(worker, 10, 20)), "image/png")),
            ("files", (f"{worker}-b.png", image_bytes(color=(worker, 30, 40)), "image/png")),
            ("files", (f"{worker}-shared.png", shared, "image/png")),
        ]
        folder = ["cat", "dog", "train/cat"][worker % 3]  # folders created concurrently too
        response = http.post(
            f"/datasets/{dataset['id']}/images", data={"folder": folder}, files=files
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(append, range(20)))
    assert statuses == [201] * 20
    final = http.get(f"/datasets/{dataset['id']}").json()
    assert final["image_count"] == 60
    assert {label["name"]: label["count"] for label in final["labels"]} == {"cat": 39, "dog": 21}
    assert count(database, select(func.count()).select_from(Image)) == 60
    assert count(database, select(func.count()).select_from(Blob)) == 41  # 40 distinct + shared
    folders = [f["path"] for f in http.get(f"/datasets/{dataset['id']}/folders").json()["items"]]
    assert folders == ["cat", "dog", "train", "train/cat"]


def test_five_concurrent_imports(http: httpx.Client, database: Database) -> None:
    shared = {f"common/{i}.png": image_bytes(color=(200, i, 7)) for i in range(5)}

    def run_import(worker: int) -> int:
        own = {f"own/{worker}-{i}.png": image_bytes(color=(worker, i, 99)) for i in range(15)}
        data = zip_bytes(shared | own)
        response = http.post(
            "/datasets/import",
            files={"file": (f"set{worker}.zip", data, "application/zip")},
            data={"name": f"set {worker}"},
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=5) as pool:
        statuses = list(pool.map(run_import, range(5)))
    assert statuses == [201] * 5
    listing = http.get("/datasets").json()
    assert listing["total"] == 5
    assert all(item["image_count"] == 20 for item in listing["items"])
    assert count(database, select(func.count()).select_from(Image)) == 100
    assert count(database, select(func.count()).select_from(Blob)) == 5 + 75
