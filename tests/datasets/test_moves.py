"""Moving images onto names a folder already holds: numbered copies, or every clash listed."""

from __future__ import annotations

from fastapi.testclient import TestClient

from support.factories import labelled_zip

API = "/api/v1/datasets"


def imported(client: TestClient, labels: dict[str, int]) -> tuple[int, dict[str, int]]:
    """A dataset with numbered images per label; returns its id and {path: image id}."""
    response = client.post(
        f"{API}/import",
        files={"file": ("pets.zip", labelled_zip(labels)[0], "application/zip")},
        data={"name": "pets"},
    )
    assert response.status_code == 201, response.text
    dataset_id = response.json()["id"]
    return dataset_id, paths_of(client, dataset_id)


def paths_of(client: TestClient, dataset_id: int) -> dict[str, int]:
    items = client.get(f"{API}/{dataset_id}/images", params={"limit": 1000}).json()["items"]
    return {image["path"]: image["id"] for image in items}


def test_a_single_move_can_number_the_moved_image(client: TestClient) -> None:
    dataset_id, ids = imported(client, {"cat": 2, "dog": 1, "bird": 1})
    url = f"{API}/{dataset_id}/images"

    moved = client.patch(
        f"{url}/{ids['cat/000.png']}", json={"folder": "dog", "on_conflict": "rename"}
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["path"], moved.json()["label"]) == ("dog/000 (2).png", "dog")
    again = client.patch(
        f"{url}/{ids['bird/000.png']}", json={"folder": "dog", "on_conflict": "rename"}
    )
    assert again.json()["path"] == "dog/000 (3).png"
    renamed = client.patch(
        f"{url}/{ids['cat/001.png']}",
        json={"name": "000 (2).png", "folder": "dog", "on_conflict": "rename"},
    )
    assert renamed.json()["path"] == "dog/000 (4).png"

    # The API default stays "fail": the existing image keeps its name, nothing moves.
    refused = client.patch(f"{url}/{ids['dog/000.png']}", json={"name": "000 (2).png"})
    assert refused.status_code == 409
    assert refused.json()["detail"] == "'dog/000 (2).png' already exists in this dataset"
    assert sorted(paths_of(client, dataset_id)) == [
        "dog/000 (2).png",
        "dog/000 (3).png",
        "dog/000 (4).png",
        "dog/000.png",
    ]


def test_a_bulk_move_that_fails_lists_every_clash_and_moves_nothing(client: TestClient) -> None:
    dataset_id, ids = imported(client, {"cat": 3, "dog": 2, "bird": 3})
    before = paths_of(client, dataset_id)
    chosen = ["cat/000.png", "cat/001.png", "cat/002.png", "bird/000.png", "bird/002.png"]

    response = client.post(
        f"{API}/{dataset_id}/images/move",
        json={"image_ids": [ids[path] for path in chosen], "folder": "dog"},
    )
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["errors"] == [
        {"entry": "cat/000.png", "problem": "'dog/000.png' already exists in this dataset"},
        {"entry": "cat/001.png", "problem": "'dog/001.png' already exists in this dataset"},
        {"entry": "bird/000.png", "problem": "'dog/000.png' already exists in this dataset"},
        {
            "entry": "bird/002.png",
            "problem": "another selected image is also moved to 'dog/002.png'",
        },
    ]
    assert body["detail"].startswith("nothing was moved: cat/000.png: 'dog/000.png' already")
    assert paths_of(client, dataset_id) == before


def test_a_bulk_move_with_rename_keeps_every_name_unique(client: TestClient) -> None:
    dataset_id, ids = imported(client, {"cat": 2, "dog": 1, "bird": 1, "fish": 1})
    chosen = ["cat/000.png", "cat/001.png", "bird/000.png", "fish/000.png", "dog/000.png"]

    response = client.post(
        f"{API}/{dataset_id}/images/move",
        json={
            "image_ids": [ids[path] for path in chosen],
            "folder": "dog",
            "on_conflict": "rename",
        },
    )
    assert response.status_code == 200, response.text
    moved = response.json()
    assert moved["total"] == 5
    assert [image["path"] for image in moved["items"]] == [
        "dog/000 (2).png",
        "dog/001.png",
        "dog/000 (3).png",
        "dog/000 (4).png",
        "dog/000.png",
    ]
    assert {image["label"] for image in moved["items"]} == {"dog"}
    labels = client.get(f"{API}/{dataset_id}").json()["labels"]
    assert labels == [{"name": "dog", "count": 5}]


def test_a_bulk_move_needs_images_of_the_dataset(client: TestClient) -> None:
    dataset_id, ids = imported(client, {"cat": 1})
    url = f"{API}/{dataset_id}/images/move"
    missing = client.post(url, json={"image_ids": [ids["cat/000.png"], 999_999], "folder": "dog"})
    assert missing.status_code == 404
    assert "image 999999" in missing.json()["detail"]
    assert client.post(url, json={"image_ids": [], "folder": "dog"}).status_code == 422
    bad = client.post(url, json={"image_ids": [ids["cat/000.png"]], "folder": "../up"})
    assert bad.status_code == 400
    assert paths_of(client, dataset_id) == {"cat/000.png": ids["cat/000.png"]}
