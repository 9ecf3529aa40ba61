"""tinymlaas login / logout / whoami against a live server."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from support.cli import Cli

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)


def test_login_stores_the_token_readable_only_by_the_owner(
    runner: Cli, server_url: str, admin_password: str, config_dir: Path
) -> None:
    result = runner("login", "--server", server_url + "/", input=f"admin\n{admin_password}\n")

    assert result.exit_code == 0, result.output
    assert f"Logged in to {server_url} as admin" in result.output
    credentials_file = config_dir / "credentials.json"
    assert stat.S_IMODE(credentials_file.stat().st_mode) == 0o600
    stored = json.loads(credentials_file.read_text())
    assert stored["server"] == server_url
    assert stored["username"] == "admin"
    assert stored["token"]
    whoami = runner("whoami")
    assert whoami.exit_code == 0, whoami.output
    assert f"admin (administrator) on {server_url}" in whoami.output


def test_wrong_password_is_refused_and_nothing_is_stored(
    runner: Cli, server_url: str, config_dir: Path
) -> None:
    result = runner(
        "login",
        "--server",
        server_url,
        "--username",
        "admin",
        "--password-stdin",
        input="not-the-password\n",
    )

    assert result.exit_code == 1
    assert "wrong username or password" in result.stderr
    assert not (config_dir / "credentials.json").exists()


def test_logout_forgets_the_token(logged_in: Cli, server_url: str, config_dir: Path) -> None:
    result = logged_in("logout")

    assert result.exit_code == 0, result.output
    assert f"Logged out of {server_url}" in result.output
    assert not (config_dir / "credentials.json").exists()
    after = logged_in("datasets", "list")
    assert after.exit_code == 1
    assert "not logged in or the token expired: run tinymlaas login" in after.stderr


def test_a_token_the_server_refuses_gives_the_login_hint(
    runner: Cli, server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINYMLAAS_SERVER", server_url)
    monkeypatch.setenv("TINYMLAAS_TOKEN", "not-a-token-this-server-issued")

    result = runner("datasets", "list")

    assert result.exit_code == 1
    assert "not logged in or the token expired: run tinymlaas login" in result.stderr


def test_environment_token_and_server_work_without_login(
    logged_in: Cli, server_url: str, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = json.loads((config_dir / "credentials.json").read_text())["token"]
    (config_dir / "credentials.json").unlink()
    monkeypatch.setenv("TINYMLAAS_SERVER", server_url)
    monkeypatch.setenv("TINYMLAAS_TOKEN", token)

    result = logged_in("whoami")

    assert result.exit_code == 0, result.output
    assert "admin (administrator)" in result.output


def test_the_stored_token_is_not_sent_to_another_server(
    logged_in: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINYMLAAS_SERVER", "http://127.0.0.1:9")

    result = logged_in("datasets", "list")

    assert result.exit_code == 1
    assert "not logged in or the token expired: run tinymlaas login" in result.stderr
