"""Logging in, tokens, and user management through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
from fastapi.testclient import TestClient
from sqlalchemy import delete

from tinymlaas.app import create_app
from tinymlaas.config import Settings
from tinymlaas.models.user import User

from conftest import ADMIN_PASSWORD, SECRET_KEY, Database, login
from support.clock import MovableClock


def test_login_returns_a_bearer_token(app_client: TestClient) -> None:
    response = app_client.post(
        "/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    me = app_client.get(
        "/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["username"] == "admin"
    assert me.json()["is_admin"] is True


def test_wrong_password_and_unknown_user_are_401(app_client: TestClient) -> None:
    for username, password in [("admin", "wrong-password"), ("nobody", ADMIN_PASSWORD)]:
        response = app_client.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        assert response.status_code == 401
        assert response.json() == {"detail": "wrong username or password"}


def test_missing_bad_and_expired_tokens_are_401(app_client: TestClient) -> None:
    assert app_client.get("/api/v1/datasets").status_code == 401
    garbage = {"Authorization": "Bearer not-a-token"}
    assert app_client.get("/api/v1/datasets", headers=garbage).status_code == 401
    past = datetime.now(UTC) - timedelta(minutes=5)
    expired = jwt.encode({"sub": "1", "exp": past}, SECRET_KEY, algorithm="HS256")
    response = app_client.get("/api/v1/datasets", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    forged = jwt.encode(
        {"sub": "1", "exp": datetime.now(UTC) + timedelta(hours=1)}, "another-key" * 4, "HS256"
    )
    response = app_client.get("/api/v1/datasets", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_admin_creates_users_who_cannot_create_users(client: TestClient) -> None:
    created = client.post("/api/v1/users", json={"username": "ada", "password": "lovelace1"})
    assert created.status_code == 201
    assert created.json()["is_admin"] is False
    assert "password" not in created.json()
    assert "password_hash" not in created.json()
    duplicate = client.post("/api/v1/users", json={"username": "ada", "password": "lovelace1"})
    assert duplicate.status_code == 409

    ada = TestClient(client.app)
    ada.headers.update(login(ada, "ada", "lovelace1"))
    forbidden = ada.post("/api/v1/users", json={"username": "eve", "password": "password1"})
    assert forbidden.status_code == 403
    short = client.post("/api/v1/users", json={"username": "bob", "password": "short"})
    assert short.status_code == 422


def test_failed_logins_are_rate_limited(app_client: TestClient) -> None:
    settings = app_client.app.state.settings
    for _ in range(settings.login_max_failures):
        response = app_client.post(
            "/api/v1/auth/token", data={"username": "admin", "password": "guess"}
        )
        assert response.status_code == 401
    blocked = app_client.post(
        "/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert blocked.status_code == 429
    assert "too many failed logins" in blocked.json()["detail"]
    assert int(blocked.headers["retry-after"]) == settings.login_window_seconds
    # other accounts are not locked by someone guessing the admin's password
    other = app_client.post("/api/v1/auth/token", data={"username": "nobody", "password": "x"})
    assert other.status_code == 401


def test_a_successful_login_clears_the_failures(app_client: TestClient) -> None:
    settings = app_client.app.state.settings
    for _ in range(settings.login_max_failures - 1):
        app_client.post("/api/v1/auth/token", data={"username": "admin", "password": "guess"})
    login(app_client, "admin", ADMIN_PASSWORD)
    for _ in range(settings.login_max_failures - 1):
        app_client.post("/api/v1/auth/token", data={"username": "admin", "password": "guess"})
    login(app_client, "admin", ADMIN_PASSWORD)


def _user_deleted_in_the_database(database: Database, username: str) -> None:
    with database.engine.begin() as connection:
        connection.execute(delete(User).where(User.username == username))


def test_a_checked_token_is_trusted_only_for_the_cache_time(
    client: TestClient, database: Database, settings: Settings, clock: MovableClock
) -> None:
    assert (
        client.post("/api/v1/users", json={"username": "bo", "password": "bo-password"}).status_code
        == 201
    )
    app = create_app(settings.model_copy(update={"token_cache_seconds": 1.0}), prepare=False)
    with TestClient(app) as other:
        headers = login(other, "bo", "bo-password")
        assert other.get("/api/v1/users/me", headers=headers).json()["username"] == "bo"
        _user_deleted_in_the_database(database, "bo")
        # Within the cache time the token is still trusted...
        assert other.get("/api/v1/users/me", headers=headers).status_code == 200
        clock.advance(1.1)
        # ...then it is checked again and its user is gone.
        response = other.get("/api/v1/users/me", headers=headers)
        assert response.status_code == 401
        assert "log in again" in response.json()["detail"]


def test_without_the_token_cache_every_request_checks_the_user(
    client: TestClient, database: Database, settings: Settings
) -> None:
    assert (
        client.post("/api/v1/users", json={"username": "cy", "password": "cy-password"}).status_code
        == 201
    )
    app = create_app(settings.model_copy(update={"token_cache_seconds": 0}), prepare=False)
    with TestClient(app) as other:
        headers = login(other, "cy", "cy-password")
        assert other.get("/api/v1/users/me", headers=headers).status_code == 200
        _user_deleted_in_the_database(database, "cy")
        assert other.get("/api/v1/users/me", headers=headers).status_code == 401


def test_a_cached_token_still_expires_on_time(
    client: TestClient, settings: Settings, clock: MovableClock
) -> None:
    app = create_app(settings.model_copy(update={"token_cache_seconds": 600}), prepare=False)
    admin_id = client.get("/api/v1/users/me").json()["id"]
    soon = clock() + timedelta(seconds=2)
    token = jwt.encode({"sub": str(admin_id), "exp": soon}, SECRET_KEY, algorithm="HS256")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as other:
        assert other.get("/api/v1/users/me", headers=headers).status_code == 200
        clock.advance(1.9)
        assert other.get("/api/v1/users/me", headers=headers).status_code == 200
        clock.advance(0.1)
        response = other.get("/api/v1/users/me", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"detail": "invalid or expired token; log in again"}


def test_a_token_is_accepted_until_its_expiry_and_refused_from_then_on(
    app_client: TestClient, clock: MovableClock
) -> None:
    """Tokens the server issued expire after `access_token_minutes` on the server's clock."""
    headers = login(app_client, "admin", ADMIN_PASSWORD)
    minutes = app_client.app.state.settings.access_token_minutes  # type: ignore[attr-defined]
    clock.advance(minutes * 60 - 1)
    assert app_client.get("/api/v1/datasets", headers=headers).status_code == 200
    clock.advance(1)
    response = app_client.get("/api/v1/datasets", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid or expired token; log in again"}


def test_a_token_issued_in_the_future_is_refused(
    app_client: TestClient, clock: MovableClock
) -> None:
    admin = login(app_client, "admin", ADMIN_PASSWORD)
    admin_id = app_client.get("/api/v1/users/me", headers=admin).json()["id"]
    later = clock() + timedelta(minutes=5)
    claims = {"sub": str(admin_id), "iat": later, "exp": later + timedelta(hours=1)}
    token = jwt.encode(claims, SECRET_KEY, algorithm="HS256")
    headers = {"Authorization": f"Bearer {token}"}
    assert app_client.get("/api/v1/datasets", headers=headers).status_code == 401
    clock.advance(5 * 60)
    assert app_client.get("/api/v1/datasets", headers=headers).status_code == 200
