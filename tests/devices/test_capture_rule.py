"""A device's capture rule through the API: stored, validated with clear answers, per user."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tinymlaas.models import User

from conftest import Database
from support.factories import device_row


def setup(client: TestClient, database: Database) -> tuple[str, int]:
    with database.factory() as session:
        owner = session.scalars(select(User.id).where(User.username == "admin")).one()
    device_id = device_row(database, owner)
    dataset = client.post("/api/v1/datasets", json={"name": "review me"}).json()
    return f"/api/v1/devices/{device_id}/capture-rule", int(dataset["id"])


def test_put_get_replace_and_delete_a_rule(client: TestClient, database: Database) -> None:
    url, dataset_id = setup(client, database)
    missing = client.get(url)
    assert missing.status_code == 404
    assert "no capture rule" in missing.json()["detail"]

    put = client.put(url, json={"dataset_id": dataset_id, "below_score": 0.6, "max_per_hour": 20})
    assert put.status_code == 200, put.text
    rule = put.json()
    assert rule["below_score"] == 0.6
    assert rule["margin"] is None
    assert rule["sample_per_hour"] is None
    assert (rule["max_per_hour"], rule["enabled"], rule["dataset_name"]) == (20, True, "review me")
    assert (rule["kept_last_hour"], rule["queued"], rule["queue_max"]) == (0, 0, 1000)
    assert client.get(url).json() == rule

    body = {"dataset_id": dataset_id, "margin": 0.1, "sample_per_hour": 4, "enabled": False}
    replaced = client.put(url, json=body).json()
    assert replaced["below_score"] is None  # a PUT replaces the whole rule
    assert (replaced["margin"], replaced["sample_per_hour"]) == (0.1, 4)
    assert (replaced["max_per_hour"], replaced["enabled"]) == (60, False)

    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404
    assert client.delete(url).status_code == 404


def test_bad_rules_get_a_clear_4xx_and_change_nothing(
    client: TestClient, database: Database
) -> None:
    url, dataset_id = setup(client, database)
    client.put(url, json={"dataset_id": dataset_id, "below_score": 0.5})

    def refused(body: dict[str, Any], status: int, *words: str) -> None:
        response = client.put(url, json=body)
        assert response.status_code == status, response.text
        for word in words:
            assert word in response.text, response.text

    refused({"dataset_id": dataset_id}, 400, "at least one of below_score, margin")
    refused({"dataset_id": dataset_id, "below_score": 1.5}, 422, "below_score")
    refused({"dataset_id": dataset_id, "margin": -0.1}, 422, "margin")
    refused({"dataset_id": dataset_id, "below_score": 0.5, "max_per_hour": 0}, 422, "max_per_hour")
    refused(
        {"dataset_id": dataset_id, "sample_per_hour": 50, "max_per_hour": 10},
        400,
        "sample_per_hour 50 is over max_per_hour 10",
    )
    refused({"dataset_id": 999_999, "below_score": 0.5}, 404, "dataset 999999 not found")
    assert client.get(url).json()["below_score"] == 0.5


def test_another_users_device_or_dataset_is_not_found(
    client: TestClient, database: Database, make_user_client: Any
) -> None:
    url, dataset_id = setup(client, database)
    other = make_user_client("eve")
    assert other.get(url).status_code == 404
    assert other.put(url, json={"dataset_id": dataset_id, "below_score": 0.5}).status_code == 404
    theirs = other.post("/api/v1/datasets", json={"name": "theirs"}).json()["id"]
    response = client.put(url, json={"dataset_id": theirs, "below_score": 0.5})
    assert response.status_code == 404
    assert client.get(url).status_code == 404
