"""The dataset page's Versions panel, a version's page and the diff page, without a browser."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from fastapi.testclient import TestClient

from web.test_dataset_pages import image_ids, import_page
from web.test_pages import HTML, log_in

from conftest import ADMIN_PASSWORD, login
from support.factories import labelled_zip

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)


def test_create_list_export_and_compare_versions_from_the_pages(app_client: TestClient) -> None:
    token = log_in(app_client)
    archive, entries = labelled_zip({"cat": 2, "dog": 2})
    dataset_id = import_page(app_client, token, archive)
    page = app_client.get(f"/datasets/{dataset_id}", headers=HTML).text
    assert 'data-testid="versions-panel"' in page
    assert "No versions yet." in page

    created = app_client.post(
        f"/datasets/{dataset_id}/versions", data={"csrf_token": token, "note": "first cut"}
    )
    assert "Created version 1." in created.text
    again = app_client.post(
        f"/datasets/{dataset_id}/versions",
        data={"csrf_token": token, "note": "x"},
        headers={"Referer": f"{app_client.base_url}/datasets/{dataset_id}"},
    )
    assert 'class="flash flash-error"' in again.text
    assert "has not changed since version 1" in again.text

    cats = image_ids(app_client, dataset_id, "cat")
    app_client.post(
        f"/datasets/{dataset_id}/images/move",
        data={"csrf_token": token, "folder": "dog", "image_id": [cats["000.png"]]},
    )
    app_client.post(f"/datasets/{dataset_id}/versions", data={"csrf_token": token})
    page = app_client.get(f"/datasets/{dataset_id}", headers=HTML).text
    links = re.findall(r'href="/dataset-versions/(\d+)" class="strong">v(\d)<', page)
    assert [number for _, number in links] == ["2", "1"]
    assert "first cut" in page

    first_id = dict((number, version_id) for version_id, number in links)["1"]
    version_page = app_client.get(f"/dataset-versions/{first_id}", headers=HTML).text
    assert 'data-testid="version-number">v1<' in version_page
    exported = app_client.get(f"/dataset-versions/{first_id}/export")
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive_read:
        files = {name: archive_read.read(name) for name in archive_read.namelist()}
    assert {name: data for name, data in files.items() if not name.endswith("/")} == entries

    diff = app_client.get(f"/datasets/{dataset_id}/versions/diff?from=1&to=2", headers=HTML)
    assert diff.status_code == 200
    assert "0 added · 0 removed · 1 relabelled · 3 unchanged" in diff.text
    since = app_client.get(f"/datasets/{dataset_id}/versions/diff?from=1&to=", headers=HTML)
    assert "1 relabelled" in since.text
    assert "the dataset now" in since.text

    deleted = app_client.post(f"/dataset-versions/{first_id}/delete", data={"csrf_token": token})
    assert "Deleted version 1." in deleted.text
    assert app_client.get(f"/dataset-versions/{first_id}", headers=HTML).status_code == 404


def test_the_model_page_links_to_the_version_it_learnt_from(app_client: TestClient) -> None:
    token = log_in(app_client)
    dataset_id = import_page(app_client, token, labelled_zip({"cat": 2, "dog": 2})[0])
    bearer = login(app_client, "admin", ADMIN_PASSWORD)
    model = app_client.post(
        "/api/v1/models",
        json={"name": "m", "dataset_id": dataset_id, "architecture": "cnn-small"},
        headers=bearer,
    ).json()
    page = app_client.get(f"/models/{model['id']}", headers=HTML).text
    version = app_client.get(f"/api/v1/datasets/{dataset_id}/versions/1", headers=bearer).json()
    assert (
        f'<a href="/dataset-versions/{version["id"]}" data-testid="dataset-version">version 1</a>'
        in page
    )
    version_page = app_client.get(f"/dataset-versions/{version['id']}", headers=HTML).text
    assert f'<a href="/models/{model["id"]}">m</a>' in version_page
