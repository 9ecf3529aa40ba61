"""What the CLI does with no login, or with no server to talk to."""

from __future__ import annotations

import socket
from pathlib import Path

from support.cli import Cli


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_command_without_login_gives_the_login_hint(runner: Cli) -> None:
    result = runner("datasets", "list")

    assert result.exit_code == 1
    assert "not logged in or the token expired: run tinymlaas login" in result.stderr


def test_an_unreachable_server_is_named(runner: Cli, config_dir: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"

    result = runner(
        "login", "--server", url, "--username", "admin", "--password-stdin", input="whatever\n"
    )

    assert result.exit_code == 1
    assert f"cannot reach the TinyMLaaS server at {url}:" in result.stderr
    assert not (config_dir / "credentials.json").exists()
