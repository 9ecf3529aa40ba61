"""The dataset pages without a browser: moves onto taken names, the image page, skipped files."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from web.test_pages import HTML, log_in

from support.factories import image_bytes, labelled_zip, zip_bytes

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)


def import_page(client: TestClient, token: str, archive: bytes, name: str = "pets") -> int:
    """Import through the page's upload; returns the dataset id."""
    response = client.post(
        "/datasets/import",
        data={"name": name},
        files={"file": (f"{name}.zip", archive, "application/zip")},
        headers={"X-CSRF-Token": token, "Accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


def image_ids(client: TestClient, dataset_id: int, folder: str) -> dict[str, int]:
    page = client.get(f"/datasets/{dataset_id}?folder={folder}", headers=HTML).text
    return {
        name: int(image_id)
        for image_id, name in re.findall(
            rf'href="/datasets/{dataset_id}/images/(\d+)" title="Open {folder}/([^"]+)"', page
        )
    }


def test_moving_onto_a_taken_name_numbers_the_moved_image_by_default(
    app_client: TestClient,
) -> None:
    token = log_in(app_client)
    dataset_id = import_page(app_client, token, labelled_zip({"cat": 2, "dog": 2})[0])
    cats = image_ids(app_client, dataset_id, "cat")
    move = f"/datasets/{dataset_id}/images/move"
    form = {"csrf_token": token, "folder": "dog", "image_id": list(cats.values())}
    back = {"Referer": f"{app_client.base_url}/datasets/{dataset_id}?folder=dog"}

    refused = app_client.post(move, data={**form, "on_conflict": "fail"}, headers=back)
    assert 'class="flash flash-error"' in refused.text
    assert (
        "nothing was moved: cat/000.png: &#39;dog/000.png&#39; already exists in this dataset;"
        " cat/001.png: &#39;dog/001.png&#39; already exists in this dataset" in refused.text
    )
    assert sorted(image_ids(app_client, dataset_id, "dog")) == ["000.png", "001.png"]

    moved = app_client.post(move, data=form, headers=back)
    assert moved.status_code == 200
    assert (
        "Moved 2 images to &#39;dog&#39;. Renamed 2 to keep names unique:"
        " dog/000 (2).png, dog/001 (2).png." in moved.text
    )
    assert sorted(image_ids(app_client, dataset_id, "dog")) == [
        "000 (2).png",
        "000.png",
        "001 (2).png",
        "001.png",
    ]


def test_the_image_page_shows_it_full_size_and_renames_it(app_client: TestClient) -> None:
    token = log_in(app_client)
    dataset_id = import_page(app_client, token, labelled_zip({"cat": 2})[0])
    cats = image_ids(app_client, dataset_id, "cat")
    url = f"/datasets/{dataset_id}/images/{cats['000.png']}"

    page = app_client.get(url, headers=HTML)
    assert page.status_code == 200
    content = f"{url}/content"
    assert f'<a class="button" href="{content}"' in page.text
    assert f'src="{content}"' in page.text
    assert app_client.get(content).content[:8] == b"\x89PNG\r\n\x1a\n"

    taken = app_client.post(
        f"{url}/rename", data={"csrf_token": token, "name": "001.png"}, headers={"Referer": url}
    )
    assert "&#39;cat/001.png&#39; already exists in this dataset" in taken.text
    renamed = app_client.post(f"{url}/rename", data={"csrf_token": token, "name": "best.png"})
    assert "Renamed &#39;cat/000.png&#39; to &#39;cat/best.png&#39;." in renamed.text
    assert sorted(image_ids(app_client, dataset_id, "cat")) == ["001.png", "best.png"]
    assert app_client.get(f"/datasets/{dataset_id}/images/999999", headers=HTML).status_code == 404


def test_skipped_documentation_files_are_named_after_an_import_or_upload(
    app_client: TestClient,
) -> None:
    token = log_in(app_client)
    archive = zip_bytes(
        {"flower_photos/LICENSE.txt": b"CC-BY", "flower_photos/daisy/1.png": image_bytes()}
    )
    dataset_id = import_page(app_client, token, archive, name="flowers")
    page = app_client.get(f"/datasets/{dataset_id}", headers=HTML).text
    assert (
        "Imported 1 images into &#39;flowers&#39;."
        " Skipped 1 documentation file: flower_photos/LICENSE.txt." in page
    )

    added = app_client.post(
        f"/datasets/{dataset_id}/images",
        data={"folder": "daisy"},
        files=[
            ("files", ("2.png", image_bytes(color=(1, 2, 3)), "image/png")),
            ("files", ("README.md", b"# daisies", "text/markdown")),
        ],
        headers={"X-CSRF-Token": token, "Accept": "application/json"},
    )
    assert added.status_code == 200, added.text
    page = app_client.get(f"/datasets/{dataset_id}", headers=HTML).text
    assert "Added 1 images to &#39;daisy&#39;. Skipped 1 documentation file: README.md." in page
