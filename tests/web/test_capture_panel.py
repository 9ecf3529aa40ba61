"""The device page's Capture panel: datasets and their labels to pick, frames previewed."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tinymlaas.db.session import transaction
from tinymlaas.models import Dataset, DeviceCapture, Folder, Job
from web.test_page_details import admin_id, text_of
from web.test_pages import HTML, log_in

from conftest import Database
from support.factories import device_row

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)


def device_with_capture(database: Database) -> tuple[int, int]:
    owner = admin_id(database)
    device_id = device_row(database, owner)
    with transaction(database.factory) as session:
        dataset = Dataset(owner_id=owner, name="pets")
        session.add(dataset)
        session.flush()
        session.add_all([Folder(dataset_id=dataset.id, path=p) for p in ("cat", "dog")])
        job = Job(owner_id=owner, kind="capture", status="running", progress=0.2)
        session.add(job)
        session.flush()
        capture = DeviceCapture(
            owner_id=owner, device_id=device_id, dataset_id=dataset.id, job_id=job.id,
            folder="cat", count=10, interval_ms=500, image_ids=[41, 42],
        )  # fmt: skip
        session.add(capture)
        session.flush()
        return device_id, capture.id


def test_the_panel_offers_the_datasets_labels_and_previews_the_frames(
    app_client: TestClient, database: Database
) -> None:
    token = log_in(app_client)
    device_id, capture_id = device_with_capture(database)
    page = app_client.get(f"/devices/{device_id}", headers=HTML).text
    words = text_of(page)
    assert "Capture" in words
    assert "2 of 10 frames" in words
    assert re.search(r'<option value="\d+">pets</option>', page)
    assert '"folders": ["cat", "dog"]' in page
    assert page.count("/images/41/thumbnail") == 1
    assert "/images/42/thumbnail" in page
    live = app_client.get(f"/device-captures/{capture_id}", headers={"Accept": "application/json"})
    assert live.json()["image_ids"] == [41, 42]
    # One capture at a time per board: the form is refused while one runs (and offline).
    response = app_client.post(
        f"/devices/{device_id}/capture",
        data={"dataset_id": "1", "folder": "dog", "count": "3", "csrf_token": token},
        headers=HTML | {"referer": f"/devices/{device_id}"},
        follow_redirects=True,
    )
    assert "is offline: start its bridge or plug it in" in text_of(response.text)
