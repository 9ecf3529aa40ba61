"""The coordinator's steps: one API process at a time takes each."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from tinymlaas.config import Settings
from tinymlaas.db.base import utcnow
from tinymlaas.models import Job
from tinymlaas.search import repository
from tinymlaas.search.coordinator import advance_all

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


def test_at_the_time_budget_running_trainings_stop_and_without_a_result_the_search_fails(
    client: TestClient, database: Database, settings: Settings
) -> None:
    dataset_id = import_patterns(client)
    body = {
        "name": "s",
        "dataset_id": dataset_id,
        "board": "nano33ble",
        "time_budget_minutes": 1,
        "architectures": ["cnn-small"],
        "input_sizes": [32],
        "color_modes": ["grayscale"],
    }
    accepted = client.post("/api/v1/searches", json=body).json()
    advance_all(database.factory, settings)
    assert client.get(f"/api/v1/searches/{accepted['id']}").json()["status"] == "running"
    with database.factory.begin() as session:
        session.execute(
            update(Job)
            .where(Job.id == accepted["job_id"])
            .values(started_at=utcnow() - timedelta(minutes=2))
        )
    advance_all(database.factory, settings)
    search = client.get(f"/api/v1/searches/{accepted['id']}").json()
    assert search["status"] == "failed"
    assert search["message"] == "no candidate finished training within the time budget"
    assert {c["status"] for c in search["candidates"]} == {"stopped"}
    assert all(c["reason"].startswith("stopped at the time budget") for c in search["candidates"])
    models = client.get("/api/v1/models").json()["items"]
    assert {model["status"] for model in models} == {"cancelled"}
