"""A live server (the real app under uvicorn) and the CLI driven in-process against it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tinymlaas.cli import app
from tinymlaas.config import Settings


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty CLI configuration directory; no server or token comes from the environment."""
    directory = tmp_path / "config"
    monkeypatch.setenv("TINYMLAAS_CONFIG_DIR", str(directory))
    monkeypatch.delenv("TINYMLAAS_SERVER", raising=False)
    monkeypatch.delenv("TINYMLAAS_TOKEN", raising=False)
    return directory


@pytest.fixture
def runner(config_dir: Path) -> CliRunner:
    """Runs `tinymlaas …` in-process (`runner.invoke(app, [...])`) with its own configuration."""
    return CliRunner()


@pytest.fixture
def admin_password(settings: Settings) -> str:
    assert settings.admin_password is not None
    return settings.admin_password.get_secret_value()


@pytest.fixture
def logged_in(runner: CliRunner, server_url: str, admin_password: str) -> CliRunner:
    """A runner whose CLI is logged in to the live server as the admin."""
    result = runner.invoke(
        app,
        ["login", "--server", server_url, "--username", "admin", "--password-stdin"],
        input=admin_password + "\n",
    )
    assert result.exit_code == 0, result.output
    return runner
