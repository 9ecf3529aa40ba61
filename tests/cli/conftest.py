"""A live server (the real app under uvicorn) and the CLI driven in-process against it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinymlaas.config import Settings

from support.cli import Cli


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty CLI configuration directory; no server or token comes from the environment."""
    directory = tmp_path / "config"
    monkeypatch.setenv("TINYMLAAS_CONFIG_DIR", str(directory))
    monkeypatch.delenv("TINYMLAAS_SERVER", raising=False)
    monkeypatch.delenv("TINYMLAAS_TOKEN", raising=False)
    return directory


@pytest.fixture(autouse=True)
def wide_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich tables one line per row, whatever the terminal running the tests."""
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def runner(config_dir: Path) -> Cli:
    """Runs `tinymlaas …` in-process (`runner("datasets", "list")`) with its own configuration."""
    return Cli()


@pytest.fixture
def admin_password(settings: Settings) -> str:
    assert settings.admin_password is not None
    return settings.admin_password.get_secret_value()


@pytest.fixture
def logged_in(runner: Cli, server_url: str, admin_password: str) -> Cli:
    """A runner whose CLI is logged in to the live server as the admin."""
    result = runner(
        "login",
        "--server",
        server_url,
        "--username",
        "admin",
        "--password-stdin",
        input=admin_password + "\n",
    )
    assert result.exit_code == 0, result.output
    return runner
