"""A live server (the real app under uvicorn) and the CLI driven in-process against it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from tinymlaas.app import create_app
from tinymlaas.cli import app
from tinymlaas.config import Settings

STARTUP_SECONDS = 30


@pytest.fixture
def server_url(settings: Settings) -> Iterator[str]:
    """The URL of the app served by uvicorn on a free 127.0.0.1 port in a background thread."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        assert thread.is_alive(), "the server thread stopped during startup"
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"the server did not answer within {STARTUP_SECONDS}s"
        time.sleep(0.05)
    yield url
    server.should_exit = True
    thread.join(timeout=STARTUP_SECONDS)
    listener.close()
    assert not thread.is_alive(), "the server did not shut down"


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
