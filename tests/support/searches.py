"""Model searches through the API: a dataset to search on, and driving the coordinator."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tinymlaas.config import Settings
from tinymlaas.search.coordinator import advance_all

from support.factories import pattern_dataset_zip
from support.waiting import POLL_SECONDS

Json = dict[str, Any]


def import_patterns(client: TestClient, per_class: int = 8) -> int:
    response = client.post(
        "/api/v1/datasets/import",
        files={"file": ("p.zip", pattern_dataset_zip(per_class=per_class), "application/zip")},
        data={"name": "patterns"},
    )
    assert response.status_code == 201, response.text
    dataset_id: int = response.json()["id"]
    return dataset_id


def run_search(
    client: TestClient,
    factory: sessionmaker[Session],
    settings: Settings,
    search_id: int,
    timeout: float = 600,
) -> Json:
    """Advance the search as the serving process would until its job ends; the final search."""
    deadline = time.monotonic() + timeout
    while True:
        advance_all(factory, settings)
        search: Json = client.get(f"/api/v1/searches/{search_id}").json()
        if search["status"] in ("succeeded", "failed", "cancelled"):
            return search
        assert time.monotonic() < deadline, f"search {search_id} did not end: {search}"
        time.sleep(POLL_SECONDS)
