"""The coordinator's steps: one API process at a time takes each."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tinymlaas.search import repository

from conftest import Database
from support.searches import import_patterns


def test_of_two_processes_that_read_the_same_revision_one_takes_the_step(
    client: TestClient, database: Database
) -> None:
    dataset_id = import_patterns(client)
    body = {
        "name": "s",
        "dataset_id": dataset_id,
        "board": "nano33ble",
        "time_budget_minutes": 5,
        "architectures": ["cnn-small"],
        "input_sizes": [32],
        "color_modes": ["grayscale"],
    }
    accepted = client.post("/api/v1/searches", json=body).json()
    with database.factory() as first, database.factory() as second:
        [(search_id, revision)] = repository.unfinished(first)
        assert search_id == accepted["id"]
        [(_, seen_by_second)] = repository.unfinished(second)
        second.rollback()
        assert repository.claim_step(first, search_id, revision)
        first.commit()
        assert not repository.claim_step(second, search_id, seen_by_second)
        second.rollback()
        [(_, now)] = repository.unfinished(second)
        assert now == revision + 1
