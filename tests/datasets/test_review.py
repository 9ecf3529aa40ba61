"""A dataset's review queue through the API: listing, accept, relabel, discard, all or nothing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tinymlaas.models import Blob, ReviewItem

from conftest import Database
from support.factories import device_row, image_bytes
from support.review_rows import admin_id, pets_zip, queue_frames

API = "/api/v1/datasets"


def new_dataset(client: TestClient, splits: bool = False) -> int:
    response = client.post(
        f"{API}/import",
        files={"file": ("pets.zip", pets_zip(splits), "application/zip")},
        data={"name": "pets"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


@pytest.fixture
def dataset_and_items(client: TestClient, database: Database) -> tuple[int, list[int]]:
    dataset_id = new_dataset(client)
    device_id = device_row(database, admin_id(database))
    items = queue_frames(
        database,
        dataset_id,
        device_id,
        ("cat", 0.9, (1, 2, 3)),
        ("dog", 0.55, (4, 5, 6)),
        ("cat", 0.7, (7, 8, 9)),
    )
    return dataset_id, items


def labels_of(client: TestClient, dataset_id: int) -> dict[str, int]:
    return {n["name"]: n["count"] for n in client.get(f"{API}/{dataset_id}").json()["labels"]}


def test_the_queue_lists_the_most_doubtful_first_with_the_frame(
    client: TestClient, dataset_and_items: tuple[int, list[int]]
) -> None:
    dataset_id, (confident, doubtful, middle) = dataset_and_items
    page = client.get(f"{API}/{dataset_id}/review").json()
    assert page["total"] == 3
    assert [item["id"] for item in page["items"]] == [doubtful, middle, confident]
    first = page["items"][0]
    assert first["label"] == "dog"
    assert first["scores"] == {"dog": 0.55, "cat": pytest.approx(0.45)}
    assert first["uncertainty"] == pytest.approx(0.9)
    assert (first["width"], first["height"], first["format"]) == (16, 12, "PNG")
    content = client.get(f"{API}/{dataset_id}/review/{doubtful}/content")
    assert content.status_code == 200
    assert content.headers["content-type"] == "image/png"
    assert content.content == image_bytes(color=(4, 5, 6))
    paged = client.get(f"{API}/{dataset_id}/review", params={"offset": 1, "limit": 1}).json()
    assert [item["id"] for item in paged["items"]] == [middle]


def test_accept_files_each_frame_under_its_predicted_label(
    client: TestClient, dataset_and_items: tuple[int, list[int]]
) -> None:
    dataset_id, (confident, doubtful, _) = dataset_and_items
    done = client.post(f"{API}/{dataset_id}/review/accept", json={"ids": [doubtful, confident]})
    assert done.status_code == 200, done.text
    result = done.json()
    assert (result["action"], result["count"], result["queued"]) == ("accepted", 2, 1)
    assert labels_of(client, dataset_id) == {"cat": 3, "dog": 3}
    dog, cat = (client.get(f"{API}/{dataset_id}/images/{i}").json() for i in result["image_ids"])
    assert dog["folder"] == "dog"
    assert dog["label"] == "dog"
    assert cat["folder"] == "cat"
    assert dog["path"].startswith("dog/review-")
    got = client.get(f"{API}/{dataset_id}/images/{result['image_ids'][0]}/content").content
    assert got == image_bytes(color=(4, 5, 6))
    remaining = client.get(f"{API}/{dataset_id}/review").json()
    assert remaining["total"] == 1


def test_relabel_files_frames_under_the_chosen_label_even_a_new_one(
    client: TestClient, dataset_and_items: tuple[int, list[int]]
) -> None:
    dataset_id, (confident, doubtful, middle) = dataset_and_items
    done = client.post(
        f"{API}/{dataset_id}/review/relabel", json={"ids": [doubtful], "label": "cat"}
    ).json()
    assert done["action"] == "relabelled"
    assert client.get(f"{API}/{dataset_id}/images/{done['image_ids'][0]}").json()["label"] == "cat"
    client.post(f"{API}/{dataset_id}/review/relabel", json={"ids": [middle], "label": "fox"})
    assert labels_of(client, dataset_id) == {"cat": 3, "dog": 2, "fox": 1}
    bad = client.post(
        f"{API}/{dataset_id}/review/relabel", json={"ids": [confident], "label": "a/b"}
    )
    assert bad.status_code == 400
    assert "'a/b'" in bad.json()["detail"]
    assert client.get(f"{API}/{dataset_id}/review").json()["total"] == 1


def test_a_split_dataset_gets_reviewed_frames_in_train(
    client: TestClient, database: Database
) -> None:
    dataset_id = new_dataset(client, splits=True)
    (item,) = queue_frames(database, dataset_id, None, ("dog", 0.5, (1, 1, 1)))
    done = client.post(f"{API}/{dataset_id}/review/accept", json={"ids": [item]}).json()
    image = client.get(f"{API}/{dataset_id}/images/{done['image_ids'][0]}").json()
    assert (image["folder"], image["label"], image["split"]) == ("train/dog", "dog", "train")


def test_discard_removes_the_frames_and_their_bytes(
    client: TestClient, database: Database, dataset_and_items: tuple[int, list[int]]
) -> None:
    dataset_id, items = dataset_and_items

    def blobs() -> int:
        with database.factory() as session:
            return session.scalar(select(func.count()).select_from(Blob)) or 0

    before = blobs()
    done = client.post(f"{API}/{dataset_id}/review/discard", json={"ids": items}).json()
    assert (done["action"], done["count"], done["queued"], done["image_ids"]) == (
        "discarded", 3, 0, []
    )  # fmt: skip
    assert blobs() == before - 3
    assert labels_of(client, dataset_id) == {"cat": 2, "dog": 2}


@pytest.mark.parametrize("action", ["accept", "discard", "relabel"])
def test_unknown_ids_change_nothing_and_are_all_named(
    client: TestClient,
    database: Database,
    dataset_and_items: tuple[int, list[int]],
    action: str,
) -> None:
    dataset_id, items = dataset_and_items
    body: dict[str, Any] = {"ids": [items[0], 999_999, items[1], 888_888]}
    if action == "relabel":
        body["label"] = "cat"
    response = client.post(f"{API}/{dataset_id}/review/{action}", json=body)
    assert response.status_code == 404
    assert response.json()["missing_ids"] == [999_999, 888_888]
    assert "999999, 888888" in response.json()["detail"]
    assert client.get(f"{API}/{dataset_id}/review").json()["total"] == 3
    assert labels_of(client, dataset_id) == {"cat": 2, "dog": 2}


def test_another_users_queue_is_not_found_and_empty_selections_are_refused(
    client: TestClient,
    make_user_client: Any,
    database: Database,
    dataset_and_items: tuple[int, list[int]],
) -> None:
    dataset_id, items = dataset_and_items
    other = make_user_client("mallory")
    assert other.get(f"{API}/{dataset_id}/review").status_code == 404
    stolen = other.post(f"{API}/{dataset_id}/review/accept", json={"ids": items})
    assert stolen.status_code == 404
    # An item of another dataset is not in this one's queue.
    mine = new_dataset(other)
    assert other.post(f"{API}/{mine}/review/accept", json={"ids": items}).status_code == 404
    assert client.post(f"{API}/{dataset_id}/review/accept", json={"ids": []}).status_code == 422
    with database.factory() as session:
        assert session.scalar(select(func.count()).select_from(ReviewItem)) == 3


def test_deleting_the_dataset_deletes_its_queue_and_frees_its_frames(
    client: TestClient, database: Database, dataset_and_items: tuple[int, list[int]]
) -> None:
    dataset_id, _ = dataset_and_items
    assert client.delete(f"{API}/{dataset_id}").status_code == 204
    with database.factory() as session:
        assert session.scalar(select(func.count()).select_from(ReviewItem)) == 0
        assert session.scalar(select(func.count()).select_from(Blob)) == 0
