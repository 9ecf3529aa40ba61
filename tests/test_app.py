"""App-wide behaviour: health, OpenAPI, startup rules, authentication on every operation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tinymlaas.app import create_app
from tinymlaas.config import Settings
from tinymlaas.errors import ConfigurationError

PUBLIC_OPERATIONS = {"health", "login"}


def test_health_reports_the_database(app_client: TestClient, database) -> None:  # type: ignore[no-untyped-def]
    response = app_client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
    assert response.json()["backend"] == database.engine.dialect.name


def test_health_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url="postgresql://postgres@127.0.0.1:1/nothing",
        secret_key="k" * 40,
    )
    with TestClient(create_app(settings, prepare=False)) as client:
        response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json()["database"].startswith("unavailable")


def test_every_operation_but_health_and_login_needs_a_token(app_client: TestClient) -> None:
    spec = app_client.get("/openapi.json").json()
    checked = 0
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            if operation["operationId"] in PUBLIC_OPERATIONS:
                continue
            url = re.sub(r"\{[^}]+\}", "1", path)
            response = app_client.request(method.upper(), url)
            assert response.status_code == 401, (method, path, response.status_code)
            checked += 1
    assert checked >= 40


def test_operation_ids_are_stable(app_client: TestClient) -> None:
    spec = app_client.get("/openapi.json").json()
    operation_ids = {
        op["operationId"] for methods in spec["paths"].values() for op in methods.values()
    }
    assert {
        "login",
        "create_user",
        "list_datasets",
        "import_dataset",
        "export_dataset",
        "add_images",
        "update_folder",
    } <= operation_ids


def test_shared_database_without_secret_key_refuses_to_start(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql://postgres@127.0.0.1/x")
    with pytest.raises(ConfigurationError, match="TINYMLAAS_SECRET_KEY"):
        create_app(settings)


def test_embedded_default_keeps_a_generated_secret_key(tmp_path: Path) -> None:
    create_app(Settings(data_dir=tmp_path), prepare=False)
    key_file = tmp_path / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    first = key_file.read_text()
    app = create_app(Settings(data_dir=tmp_path), prepare=False)
    assert app.state.secret_key == first


def test_first_start_prints_a_generated_admin_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    with TestClient(app) as client:
        output = capsys.readouterr().out
        password = output.split("password: ")[1].split()[0]
        response = client.post(
            "/api/v1/auth/token", data={"username": "admin", "password": password}
        )
        assert response.status_code == 200
    with TestClient(create_app(Settings(data_dir=tmp_path))):
        assert "password" not in capsys.readouterr().out  # shown once only
