"""Dataset versions through the API on every backend: snapshots, export, diff, deletion."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tinymlaas.models import Blob, DatasetVersion, DatasetVersionImage

from support.factories import image_bytes, labelled_zip, zip_bytes

API = "/api/v1/datasets"


def make_dataset(client: TestClient, labels: dict[str, int] | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    data, entries = labelled_zip(labels or {"cat": 3, "dog": 2})
    response = client.post(
        f"{API}/import", files={"file": ("p.zip", data, "application/zip")}, data={"name": "pets"}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"], entries


def snapshot(client: TestClient, dataset_id: int, note: str = "") -> dict:  # type: ignore[type-arg]
    response = client.post(f"{API}/{dataset_id}/versions", json={"note": note})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def unzip(content: bytes) -> dict[str, bytes | None]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {
            info.filename: None if info.is_dir() else archive.read(info)
            for info in archive.infolist()
        }


def images(client: TestClient, dataset_id: int) -> dict[str, int]:
    items = client.get(f"{API}/{dataset_id}/images", params={"limit": 1000}).json()["items"]
    return {item["path"]: item["id"] for item in items}


def count(database, model) -> int:  # type: ignore[no-untyped-def]
    with database.factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_versions_are_numbered_counted_listed_and_refused_when_nothing_changed(
    client: TestClient,
) -> None:
    dataset_id, _ = make_dataset(client)
    first = snapshot(client, dataset_id, "as imported")
    assert (first["number"], first["note"], first["image_count"]) == (1, "as imported", 5)
    assert first["labels"] == [{"name": "cat", "count": 3}, {"name": "dog", "count": 2}]
    assert first["folders"] == ["cat", "dog"]
    assert first["models"] == []

    again = client.post(f"{API}/{dataset_id}/versions", json={"note": "again"})
    assert again.status_code == 409
    assert again.json() == {
        "detail": "dataset 'pets' has not changed since version 1",
        "version": 1,
    }

    client.post(f"{API}/{dataset_id}/folders", json={"path": "train/bird"})
    second = snapshot(client, dataset_id)
    assert second["number"] == 2
    assert second["fingerprint"] != first["fingerprint"]
    assert second["splits"] == []
    assert "train/bird" in second["folders"]

    listed = client.get(f"{API}/{dataset_id}/versions", params={"limit": 1}).json()
    assert listed["total"] == 2
    assert [item["number"] for item in listed["items"]] == [2]
    assert client.get(f"{API}/{dataset_id}/versions/1").json() == first
    assert client.get(f"/api/v1/dataset-versions/{first['id']}").json() == first
    missing = client.get(f"{API}/{dataset_id}/versions/3")
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"dataset {dataset_id} has no version 3"
    too_long = client.post(f"{API}/{dataset_id}/versions", json={"note": "x" * 1001})
    assert too_long.status_code == 422


def test_a_version_exports_the_dataset_as_it_was(client: TestClient) -> None:
    dataset_id, entries = make_dataset(client)
    before = client.get(f"{API}/{dataset_id}/export").content
    version = snapshot(client, dataset_id)
    ids = images(client, dataset_id)
    client.delete(f"{API}/{dataset_id}/images/{ids['cat/000.png']}")
    client.patch(f"{API}/{dataset_id}/images/{ids['dog/000.png']}", json={"folder": "cat"})
    client.post(
        f"{API}/{dataset_id}/images",
        files=[("files", ("new.png", image_bytes(color=(1, 2, 3)), "image/png"))],
        data={"folder": "dog"},
    )

    response = client.get(f"{API}/{dataset_id}/versions/1/export")
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    assert "pets-v1.zip" in response.headers["content-disposition"]
    assert unzip(response.content) == unzip(before)
    assert {path: data for path, data in unzip(response.content).items() if data} == entries
    by_id = client.get(f"/api/v1/dataset-versions/{version['id']}/export")
    # Entries carry the time of the download (the zip stream stamps them), so compare contents.
    assert unzip(by_id.content) == unzip(response.content)


def test_diff_counts_added_removed_and_relabelled_per_label(client: TestClient) -> None:
    dataset_id, _ = make_dataset(client)
    snapshot(client, dataset_id)
    ids = images(client, dataset_id)
    client.delete(f"{API}/{dataset_id}/images/{ids['cat/000.png']}")
    moved = client.post(
        f"{API}/{dataset_id}/images/move",
        json={
            "image_ids": [ids["cat/001.png"], ids["cat/002.png"]],
            "folder": "dog",
            "on_conflict": "rename",
        },
    )
    assert moved.status_code == 200, moved.text
    client.post(
        f"{API}/{dataset_id}/images",
        files=[("files", ("new.png", image_bytes(color=(1, 2, 3)), "image/png"))],
        data={"folder": "bird"},
    )
    now = client.get(f"{API}/{dataset_id}/versions/diff", params={"from": 1})
    assert now.status_code == 200, now.text
    snapshot(client, dataset_id)
    found = client.get(f"{API}/{dataset_id}/versions/diff", params={"from": 1, "to": 2}).json()
    assert now.json() == found | {"to_version": None}
    assert (found["from_version"], found["to_version"]) == (1, 2)
    assert (found["added"], found["removed"], found["relabelled"], found["unchanged"]) == (
        1, 1, 2, 2,
    )  # fmt: skip
    assert found["relabels"] == [{"from_label": "cat", "to_label": "dog", "count": 2}]
    assert found["labels"] == [
        {"label": "bird", "before": 0, "after": 1, "added": 1, "removed": 0,
         "relabelled_in": 0, "relabelled_out": 0},
        {"label": "cat", "before": 3, "after": 0, "added": 0, "removed": 1,
         "relabelled_in": 0, "relabelled_out": 2},
        {"label": "dog", "before": 2, "after": 4, "added": 0, "removed": 0,
         "relabelled_in": 2, "relabelled_out": 0},
    ]  # fmt: skip
    backwards = client.get(f"{API}/{dataset_id}/versions/diff", params={"from": 2, "to": 1})
    assert (backwards.json()["added"], backwards.json()["removed"]) == (1, 1)
    same = client.get(f"{API}/{dataset_id}/versions/diff", params={"from": 2, "to": 2})
    assert same.status_code == 400
    assert client.get(f"{API}/{dataset_id}/versions/diff", params={"from": 9}).status_code == 404
    assert client.get(f"{API}/{dataset_id}/versions/diff").status_code == 422


def test_bytes_a_version_holds_survive_deleting_their_images(client: TestClient, database) -> None:  # type: ignore[no-untyped-def]
    dataset_id, entries = make_dataset(client, {"cat": 2, "dog": 1})
    snapshot(client, dataset_id)
    blobs_before = count(database, Blob)
    client.delete(f"{API}/{dataset_id}/folders/cat", params={"recursive": "true"})
    ids = images(client, dataset_id)
    client.delete(f"{API}/{dataset_id}/images/{ids['dog/000.png']}")
    assert images(client, dataset_id) == {}
    assert count(database, Blob) == blobs_before  # no image left, every byte still there
    exported = unzip(client.get(f"{API}/{dataset_id}/versions/1/export").content)
    assert {path: data for path, data in exported.items() if data} == entries

    # deleting the version frees the bytes nothing else holds
    assert client.delete(f"{API}/{dataset_id}/versions/1").status_code == 204
    assert count(database, Blob) == 0
    assert count(database, DatasetVersionImage) == 0


def test_deleting_a_dataset_keeps_only_the_versions_models_learnt_from(
    client: TestClient, database
) -> None:  # type: ignore[no-untyped-def]
    dataset_id, entries = make_dataset(client, {"cat": 2, "dog": 2})
    snapshot(client, dataset_id, "unused")
    client.post(f"{API}/{dataset_id}/folders", json={"path": "empty"})
    # a training request records the version it will learn from (no worker runs here)
    model = client.post(
        "/api/v1/models",
        json={"name": "m", "dataset_id": dataset_id, "architecture": "cnn-small", "epochs": 1},
    ).json()
    shown = client.get(f"/api/v1/models/{model['id']}").json()
    assert shown["dataset_version"] == 2
    version = client.get(f"/api/v1/dataset-versions/{shown['dataset_version_id']}").json()
    assert version["number"] == 2
    assert version["models"] == [{"id": model["id"], "name": "m"}]
    refused = client.delete(f"{API}/{dataset_id}/versions/2")
    assert refused.status_code == 409
    assert refused.json()["models"] == [{"id": model["id"], "name": "m"}]
    client.post(f"/api/v1/jobs/{model['job_id']}/cancel")

    assert client.delete(f"{API}/{dataset_id}").status_code == 204
    assert count(database, DatasetVersion) == 1
    kept = client.get(f"/api/v1/dataset-versions/{version['id']}").json()
    assert (kept["dataset_id"], kept["dataset_name"], kept["number"]) == (None, "pets", 2)
    exported = unzip(client.get(f"/api/v1/dataset-versions/{version['id']}/export").content)
    assert {path: data for path, data in exported.items() if data} == entries

    # the last model that used it goes: so do the version and its bytes
    assert client.delete(f"/api/v1/models/{model['id']}").status_code == 204
    assert count(database, DatasetVersion) == 0
    assert count(database, Blob) == 0


def test_other_users_versions_are_not_found(
    client: TestClient, make_user_client: Callable[[str], TestClient]
) -> None:
    dataset_id, _ = make_dataset(client)
    version = snapshot(client, dataset_id)
    other = make_user_client("mallory")
    assert other.get(f"{API}/{dataset_id}/versions").status_code == 404
    assert other.post(f"{API}/{dataset_id}/versions", json={}).status_code == 404
    assert other.get(f"/api/v1/dataset-versions/{version['id']}").status_code == 404
    assert other.get(f"/api/v1/dataset-versions/{version['id']}/export").status_code == 404


def test_an_empty_zip_layout_round_trips(client: TestClient) -> None:
    """Folders without images are part of a version and of its export."""
    created = client.post(API, json={"name": "empty"}).json()
    client.post(f"{API}/{created['id']}/folders", json={"path": "train/cat"})
    snapshot(client, created["id"])
    exported = unzip(client.get(f"{API}/{created['id']}/versions/1/export").content)
    assert exported == unzip(zip_bytes({"train/": None, "train/cat/": None}))
