"""The datasets API end to end on each database backend."""

from __future__ import annotations

import functools
import io
import time
import zipfile
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from tinymlaas.models import Blob, BlobChunk, Folder
from tinymlaas.models import Image as ImageRow

from support.factories import image_bytes, labelled_zip, zip_bytes

API = "/api/v1/datasets"


def import_zip(client: TestClient, data: bytes, name: str = "pets", **form: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"{API}/import",
        files={"file": (f"{name}.zip", data, "application/zip")},
        data={"name": name, **form},
    )


def all_images(client: TestClient, dataset_id: int, **params: str) -> list[dict]:  # type: ignore[type-arg]
    response = client.get(f"{API}/{dataset_id}/images", params={"limit": "1000", **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def exported(client: TestClient, dataset_id: int) -> dict[str, bytes | None]:
    response = client.get(f"{API}/{dataset_id}/export")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert int(response.headers["content-length"]) == len(response.content)
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.testzip() is None
        return {
            info.filename: None if info.is_dir() else archive.read(info)
            for info in archive.infolist()
        }


def count_rows(database, model) -> int:  # type: ignore[no-untyped-def]
    with database.factory() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_create_list_get_update_delete(client: TestClient) -> None:
    created = client.post(API, json={"name": "birds", "description": "garden birds"})
    assert created.status_code == 201
    dataset = created.json()
    assert dataset["name"] == "birds"
    assert dataset["image_count"] == 0
    assert dataset["labels"] == []

    assert client.post(API, json={"name": "birds"}).status_code == 409
    listing = client.get(API).json()
    assert listing["total"] == 1
    assert [item["name"] for item in listing["items"]] == ["birds"]

    renamed = client.patch(f"{API}/{dataset['id']}", json={"name": "wild birds"})
    assert renamed.json()["name"] == "wild birds"
    assert renamed.json()["description"] == "garden birds"  # unset fields stay

    assert client.delete(f"{API}/{dataset['id']}").status_code == 204
    assert client.get(f"{API}/{dataset['id']}").status_code == 404
    assert client.get(API).json()["total"] == 0


def test_list_is_paginated(client: TestClient) -> None:
    for index in range(5):
        client.post(API, json={"name": f"set {index}"})
    page = client.get(API, params={"offset": 1, "limit": 2}).json()
    assert page["total"] == 5
    assert [item["name"] for item in page["items"]] == ["set 3", "set 2"]


def test_import_keeps_folders_labels_and_bytes(client: TestClient) -> None:
    data, entries = labelled_zip({"cat": 3, "dog": 2}, prefix="pets/")
    response = import_zip(client, data)
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["image_count"] == 5
    assert dataset["labels"] == [{"name": "cat", "count": 3}, {"name": "dog", "count": 2}]
    assert dataset["size_bytes"] == sum(len(value) for value in entries.values())

    images = all_images(client, dataset["id"])
    assert sorted(image["path"] for image in images) == sorted(
        path.removeprefix("pets/") for path in entries
    )
    first = next(image for image in images if image["path"] == "cat/000.png")
    assert (first["label"], first["split"], first["format"]) == ("cat", None, "PNG")
    assert (first["width"], first["height"]) == (16, 12)
    content = client.get(f"{API}/{dataset['id']}/images/{first['id']}/content")
    assert content.headers["content-type"] == "image/png"
    assert content.content == entries["pets/cat/000.png"]


def test_import_understands_split_folders(client: TestClient) -> None:
    data = zip_bytes(
        {
            "train/cat/1.png": image_bytes(color=(1, 2, 3)),
            "train/dog/1.png": image_bytes(color=(4, 5, 6)),
            "val/cat/2.png": image_bytes(color=(7, 8, 9)),
            "test/dog/3.jpg": image_bytes("JPEG"),
        }
    )
    dataset = import_zip(client, data).json()
    assert dataset["labels"] == [{"name": "cat", "count": 2}, {"name": "dog", "count": 2}]
    assert dataset["splits"] == [
        {"name": "test", "count": 1},
        {"name": "train", "count": 2},
        {"name": "validation", "count": 1},
    ]
    validation = all_images(client, dataset["id"], split="val")
    assert [image["path"] for image in validation] == ["val/cat/2.png"]
    assert [image["path"] for image in all_images(client, dataset["id"], label="dog")] == [
        "test/dog/3.jpg",
        "train/dog/1.png",
    ]
    assert (
        client.get(f"{API}/{dataset['id']}/images", params={"split": "holdout"}).status_code == 400
    )


def test_export_roundtrip_is_identical(client: TestClient) -> None:
    entries: dict[str, bytes | None] = {
        "cat/a.png": image_bytes(color=(10, 20, 30)),
        "cat/b.jpg": image_bytes("JPEG"),
        "dog/c.gif": image_bytes("GIF"),
        "dog/d.bmp": image_bytes("BMP"),
        "dog/e.webp": image_bytes("WEBP"),
        "empty/": None,
        "nested/deeper/": None,
    }
    first = import_zip(client, zip_bytes(entries), name="one").json()
    contents = exported(client, first["id"])
    files = {path: data for path, data in contents.items() if data is not None}
    assert files == {path: data for path, data in entries.items() if data is not None}
    assert {"empty/", "nested/", "nested/deeper/", "cat/", "dog/"} <= set(contents)

    again = import_zip(client, zip_bytes(contents), name="two").json()
    assert again["image_count"] == first["image_count"]
    assert again["labels"] == first["labels"]
    folders = client.get(f"{API}/{again['id']}/folders").json()["items"]
    assert [folder["path"] for folder in folders] == [
        "cat",
        "dog",
        "empty",
        "nested",
        "nested/deeper",
    ]
    assert exported(client, again["id"]) == contents


def test_identical_bytes_are_stored_once_and_freed(client: TestClient, database) -> None:  # type: ignore[no-untyped-def]
    same = image_bytes(color=(9, 9, 9))
    first = import_zip(client, zip_bytes({"a/1.png": same, "b/2.png": same}), name="one").json()
    second = import_zip(client, zip_bytes({"c/3.png": same}), name="two").json()
    assert count_rows(database, Blob) == 1
    assert count_rows(database, BlobChunk) == 1

    client.delete(f"{API}/{first['id']}")
    assert count_rows(database, Blob) == 1  # still used by the second dataset
    image = all_images(client, second["id"])[0]
    client.get(f"{API}/{second['id']}/images/{image['id']}/thumbnail")
    assert count_rows(database, Blob) == 2  # the thumbnail is stored too
    client.delete(f"{API}/{second['id']}/images/{image['id']}")
    assert count_rows(database, Blob) == 0
    assert count_rows(database, BlobChunk) == 0


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ({"cat/1.png": b"this is text, not an image"}, "cat/1.png"),
        ({"../evil.png": image_bytes()}, "../evil.png"),
        ({"/etc/evil.png": image_bytes()}, "/etc/evil.png"),
        ({"cat/ok.png": image_bytes(), "x.exe": b"MZ\x90\x00"}, "x.exe"),
        ({"cat/ok.png": image_bytes(), "cat/evil.svg": b"<svg onload='x()'/>"}, "cat/evil.svg"),
        ({"cat/ok.png": image_bytes(), "cat/1.jpg": b"not a jpeg"}, "cat/1.jpg"),
        ({"cat/cut.png": image_bytes()[:-30]}, "cat/cut.png"),
    ],
)
def test_bad_import_is_rejected_and_nothing_stored(
    client: TestClient,
    database,
    entries: dict[str, bytes],
    expected: str,  # type: ignore[no-untyped-def]
) -> None:
    response = import_zip(client, zip_bytes(entries))
    assert response.status_code == 400, response.text
    body = response.json()
    assert expected in body["detail"]
    assert any(error["entry"] == expected for error in body["errors"])
    assert client.get(API).json()["total"] == 0
    for model in (Blob, BlobChunk, ImageRow, Folder):
        assert count_rows(database, model) == 0


def test_documentation_in_the_zip_is_skipped_and_listed(client: TestClient, database) -> None:  # type: ignore[no-untyped-def]
    entries = {
        "flower_photos/LICENSE.txt": b"All images are licensed under CC-BY",
        "flower_photos/daisy/1.jpg": image_bytes("JPEG", color=(250, 250, 0)),
        "flower_photos/roses/2.png": image_bytes(color=(200, 0, 0)),
        "flower_photos/roses/README.md": b"# roses",
    }
    response = import_zip(client, zip_bytes(entries), name="flowers")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["ignored"] == [
        {"entry": "flower_photos/LICENSE.txt", "reason": "documentation file, not an image"},
        {"entry": "flower_photos/roses/README.md", "reason": "documentation file, not an image"},
    ]
    assert [label["name"] for label in body["labels"]] == ["daisy", "roses"]
    assert sorted(image["path"] for image in all_images(client, body["id"])) == [
        "daisy/1.jpg",
        "roses/2.png",
    ]
    assert count_rows(database, Blob) == 2
    assert "ignored" not in client.get(f"{API}/{body['id']}").json()

    added = client.post(
        f"{API}/{body['id']}/images",
        data={"folder": "tulips"},
        files=[
            ("files", ("3.png", image_bytes(color=(9, 9, 9)), "image/png")),
            ("files", ("SOURCES.csv", b"3.png,flickr", "text/csv")),
            (
                "files",
                (
                    "more.zip",
                    zip_bytes({"a/meta.json": b"{}", "a/4.png": image_bytes(color=(8, 8, 8))}),
                    "application/zip",
                ),
            ),
        ],
    )
    assert added.status_code == 201, added.text
    assert added.json()["ignored"] == [
        {"entry": "SOURCES.csv", "reason": "documentation file, not an image"},
        {"entry": "a/meta.json", "reason": "documentation file, not an image"},
    ]
    assert added.json()["image_count"] == 4


def test_a_readme_that_is_a_zip_bomb_is_still_refused(client: TestClient, database) -> None:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.md", bytes(4 * 2**20))
        archive.writestr("cat/1.png", image_bytes())
    response = import_zip(client, buffer.getvalue())
    assert response.status_code == 400
    assert [error["entry"] for error in response.json()["errors"]] == ["README.md"]
    assert "zip bomb" in response.json()["detail"]
    assert count_rows(database, Blob) == 0


def test_import_reports_every_bad_entry(client: TestClient) -> None:
    entries = {f"cat/{index}.png": b"nope" for index in range(3)} | {"cat/ok.png": image_bytes()}
    body = import_zip(client, zip_bytes(entries)).json()
    assert sorted(error["entry"] for error in body["errors"]) == [
        "cat/0.png",
        "cat/1.png",
        "cat/2.png",
    ]


def test_not_a_zip_and_empty_zip(client: TestClient) -> None:
    response = import_zip(client, b"definitely not a zip")
    assert response.status_code == 400
    assert "not a zip" in response.json()["detail"]
    response = import_zip(client, zip_bytes({}))
    assert response.status_code == 400
    assert "no files" in response.json()["detail"]


def test_import_with_taken_name_stores_nothing(client: TestClient, database) -> None:  # type: ignore[no-untyped-def]
    client.post(API, json={"name": "pets"})
    response = import_zip(client, labelled_zip({"cat": 2})[0])
    assert response.status_code == 409
    assert "pets" in response.json()["detail"]
    assert count_rows(database, ImageRow) == 0


def test_oversized_body_is_413(settings, app_client: TestClient) -> None:  # type: ignore[no-untyped-def]
    app_client.app.state.settings.max_request_bytes = 0  # the middleware reads its own copy
    from tinymlaas.app import create_app

    settings.max_request_bytes = 1000
    with TestClient(create_app(settings)) as small:
        small.headers.update(app_client.headers)
        response = small.post(
            f"{API}/import",
            files={"file": ("big.zip", b"x" * 5000, "application/zip")},
            data={"name": "big"},
        )
        assert response.status_code == 413
        assert "1000 bytes" in response.json()["detail"]


def test_add_images_to_folder_all_or_nothing(client: TestClient) -> None:
    dataset = client.post(API, json={"name": "pets"}).json()
    url = f"{API}/{dataset['id']}/images"
    added = client.post(
        url,
        data={"folder": "cat"},
        files=[
            ("files", ("a.png", image_bytes(color=(1, 1, 1)), "image/png")),
            (
                "files",
                (
                    "more.zip",
                    zip_bytes({"kitten/b.png": image_bytes(color=(2, 2, 2))}),
                    "application/zip",
                ),
            ),
        ],
    )
    assert added.status_code == 201, added.text
    assert added.json()["image_count"] == 2
    paths = sorted(image["path"] for image in all_images(client, dataset["id"]))
    assert paths == ["cat/a.png", "cat/kitten/b.png"]

    rejected = client.post(
        url,
        data={"folder": "dog"},
        files=[
            ("files", ("good.png", image_bytes(color=(3, 3, 3)), "image/png")),
            ("files", ("bad.png", b"GIF89a broken", "image/png")),
        ],
    )
    assert rejected.status_code == 400
    assert rejected.json()["errors"] == [
        {"entry": "bad.png", "problem": rejected.json()["errors"][0]["problem"]}
    ]
    assert client.get(f"{API}/{dataset['id']}").json()["image_count"] == 2

    duplicate = client.post(
        url, data={"folder": "cat"}, files=[("files", ("a.png", image_bytes(), "image/png"))]
    )
    assert duplicate.status_code == 409
    assert "cat/a.png" in duplicate.json()["detail"]


def test_move_rename_and_delete_images(client: TestClient) -> None:
    dataset = import_zip(client, labelled_zip({"cat": 2, "dog": 1})[0]).json()
    images = {image["path"]: image for image in all_images(client, dataset["id"])}
    url = f"{API}/{dataset['id']}/images"

    moved = client.patch(f"{url}/{images['cat/001.png']['id']}", json={"folder": "dog"})
    assert moved.status_code == 200
    assert (moved.json()["path"], moved.json()["label"]) == ("dog/001.png", "dog")
    labels = client.get(f"{API}/{dataset['id']}").json()["labels"]
    assert labels == [{"name": "cat", "count": 1}, {"name": "dog", "count": 2}]

    clash = client.patch(f"{url}/{images['cat/000.png']['id']}", json={"folder": "dog"})
    assert clash.status_code == 409
    assert "dog/000.png" in clash.json()["detail"]
    renamed = client.patch(f"{url}/{images['cat/000.png']['id']}", json={"name": "best.png"})
    assert renamed.json()["path"] == "cat/best.png"
    new_folder = client.patch(f"{url}/{images['dog/000.png']['id']}", json={"folder": "train/bird"})
    assert (new_folder.json()["label"], new_folder.json()["split"]) == ("bird", "train")
    bad = client.patch(f"{url}/{images['dog/000.png']['id']}", json={"folder": "../outside"})
    assert bad.status_code == 400
    assert "'..'" in bad.json()["detail"] or ".." in bad.json()["detail"]

    assert client.delete(f"{url}/{images['dog/000.png']['id']}").status_code == 204
    assert client.get(f"{url}/{images['dog/000.png']['id']}").status_code == 404
    assert client.get(f"{API}/{dataset['id']}").json()["image_count"] == 2


def test_thumbnail_is_a_small_jpeg(client: TestClient) -> None:
    big = image_bytes(size=(640, 480))
    dataset = import_zip(client, zip_bytes({"cat/big.png": big})).json()
    image = all_images(client, dataset["id"])[0]
    response = client.get(f"{API}/{dataset['id']}/images/{image['id']}/thumbnail")
    assert response.headers["content-type"] == "image/jpeg"
    thumbnail = Image.open(io.BytesIO(response.content))
    assert thumbnail.format == "JPEG"
    assert max(thumbnail.size) <= 160
    assert thumbnail.size[0] > thumbnail.size[1]
    again = client.get(f"{API}/{dataset['id']}/images/{image['id']}/thumbnail")
    assert again.content == response.content


def test_folders_create_rename_delete(client: TestClient) -> None:
    dataset = import_zip(client, labelled_zip({"cat": 2, "dog": 1})[0]).json()
    url = f"{API}/{dataset['id']}/folders"

    created = client.post(url, json={"path": "train/bird"})
    assert created.status_code == 201
    assert created.json() == {
        "path": "train/bird",
        "label": "bird",
        "split": "train",
        "image_count": 0,
        "total_image_count": 0,
    }
    assert client.post(url, json={"path": "train/bird"}).status_code == 409
    assert client.post(url, json={"path": "a/../b"}).status_code == 400

    renamed = client.patch(f"{url}/cat", json={"path": "train/kitty"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["total_image_count"] == 2
    kitty = all_images(client, dataset["id"], label="kitty")
    assert sorted(image["path"] for image in kitty) == [
        "train/kitty/000.png",
        "train/kitty/001.png",
    ]
    assert all(image["split"] == "train" for image in kitty)
    assert client.patch(f"{url}/train", json={"path": "train/inner"}).status_code == 400
    assert client.patch(f"{url}/dog", json={"path": "train"}).status_code == 409
    assert client.patch(f"{url}/nope", json={"path": "x"}).status_code == 404

    not_empty = client.delete(f"{url}/train")
    assert not_empty.status_code == 409
    assert "recursive" in not_empty.json()["detail"]
    assert client.delete(f"{url}/train/bird").status_code == 204
    assert client.delete(f"{url}/train", params={"recursive": "true"}).status_code == 204
    folders = [folder["path"] for folder in client.get(url).json()["items"]]
    assert folders == ["dog"]
    assert client.get(f"{API}/{dataset['id']}").json()["image_count"] == 1


def test_folder_paths_are_case_sensitive(client: TestClient) -> None:
    dataset = client.post(API, json={"name": "cases"}).json()
    url = f"{API}/{dataset['id']}/folders"
    assert client.post(url, json={"path": "Cat"}).status_code == 201
    assert client.post(url, json={"path": "cat"}).status_code == 201
    client.post(
        f"{API}/{dataset['id']}/images",
        data={"folder": "Cat"},
        files=[("files", ("x.png", image_bytes(), "image/png"))],
    )
    assert all_images(client, dataset["id"], folder="cat") == []
    assert len(all_images(client, dataset["id"], folder="Cat")) == 1


def test_other_users_datasets_are_not_found(
    client: TestClient, make_user_client: Callable[[str], TestClient]
) -> None:
    dataset = import_zip(client, labelled_zip({"cat": 1})[0]).json()
    image = all_images(client, dataset["id"])[0]
    mallory = make_user_client("mallory")
    assert mallory.get(API).json() == {"items": [], "total": 0}
    for method, path in [
        ("GET", f"{API}/{dataset['id']}"),
        ("PATCH", f"{API}/{dataset['id']}"),
        ("DELETE", f"{API}/{dataset['id']}"),
        ("GET", f"{API}/{dataset['id']}/export"),
        ("GET", f"{API}/{dataset['id']}/images/{image['id']}/content"),
        ("DELETE", f"{API}/{dataset['id']}/images/{image['id']}"),
        ("GET", f"{API}/{dataset['id']}/folders"),
    ]:
        response = mallory.request(method, path, json={} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path)
    # the same name is free for another user
    assert mallory.post(API, json={"name": "pets"}).status_code == 201
    assert client.get(f"{API}/{dataset['id']}").json()["image_count"] == 1


@functools.cache
def zip_bomb() -> bytes:
    """200 MiB of zeros in one entry: about 200 KB compressed."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("cat/bomb.png", "w", force_zip64=True) as entry,
    ):
        zeros = bytes(2**20)
        for _ in range(200):
            entry.write(zeros)
    return buffer.getvalue()


def test_zip_bomb_is_refused_fast_without_storing(client: TestClient, database) -> None:  # type: ignore[no-untyped-def]
    bomb = zip_bomb()
    started = time.perf_counter()
    response = import_zip(client, bomb)
    elapsed = time.perf_counter() - started
    assert response.status_code == 400
    assert "cat/bomb.png" in response.json()["detail"]
    assert elapsed < 3
    assert count_rows(database, Blob) == 0


def test_export_file_name_cannot_escape_a_folder(client: TestClient) -> None:
    dataset = client.post(API, json={"name": "a/../b"}).json()
    response = client.get(f"{API}/{dataset['id']}/export")
    assert response.headers["content-disposition"] == "attachment; filename*=UTF-8''a%2F..%2Fb.zip"
