"""The models page's import form and an imported model's page (no browser)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from conftest import ADMIN_PASSWORD
from support.imported_models import CLASSES, ImportableModel, train_importable_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True),
]


HTML = {"Accept": "text/html"}


def log_in(client: TestClient) -> str:
    """Log in as the admin through the form; returns the session's CSRF token."""

    def csrf_of(page: str) -> str:
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match, "the page has no CSRF field"
        return match.group(1)

    form = client.get("/login", headers=HTML)
    client.post(
        "/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": csrf_of(form.text)},
    )
    return csrf_of(client.get("/models", headers=HTML).text)


@pytest.fixture(scope="module")
def importable() -> ImportableModel:
    return train_importable_model()


def test_a_model_imported_through_the_form_shows_its_facts(
    app_client: TestClient, importable: ImportableModel
) -> None:
    csrf = log_in(app_client)
    page = app_client.get("/models", headers=HTML).text
    assert 'data-testid="import-model-form"' in page

    response = app_client.post(
        "/models/import",
        files={"file": ("wake.tflite", importable.tflite_bytes)},
        data={"csrf_token": csrf, "classes": ",".join(CLASSES), "name": "", "dataset_id": ""},
        follow_redirects=False,
    )

    assert response.status_code == 303, response.text
    model_page = app_client.get(response.headers["location"], headers=HTML).text
    assert "wake" in model_page
    assert 'data-testid="imported-facts"' in model_page
    assert "DEPTHWISE_CONV_2D" in model_page
    assert "no dataset: compiling reports no accuracy" in model_page
    assert 'id="loss-chart"' not in model_page  # no training curves
    assert '<option value="float32">' not in model_page  # an int8 .tflite stays int8
    listing = app_client.get("/models", headers=HTML).text
    assert "imported .tflite · 16×16" in listing


def test_a_bad_file_is_refused_with_its_reason(app_client: TestClient) -> None:
    csrf = log_in(app_client)

    response = app_client.post(
        "/models/import",
        files={"file": ("x.tflite", b"\x00" * 64)},
        data={"csrf_token": csrf, "classes": "a,b"},
        headers=HTML,
    )

    # The page comes back with the service's reason (as every refused page form does).
    assert "not a TFLite flatbuffer" in response.text
