"""What the CLI does with no login or no server, and the upload progress file."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
from typer.testing import CliRunner

from tinymlaas.cli import app
from tinymlaas.cli.progress import ProgressFile


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_command_without_login_gives_the_login_hint(runner: CliRunner) -> None:
    result = runner.invoke(app, ["datasets", "list"])

    assert result.exit_code == 1
    assert "not logged in or the token expired: run tinymlaas login" in result.stderr


def test_an_unreachable_server_is_named(runner: CliRunner, config_dir: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"

    result = runner.invoke(
        app,
        ["login", "--server", url, "--username", "admin", "--password-stdin"],
        input="whatever\n",
    )

    assert result.exit_code == 1
    assert f"cannot reach the TinyMLaaS server at {url}:" in result.stderr
    assert not (config_dir / "credentials.json").exists()


class _Counter:
    def __init__(self) -> None:
        self.total: int | None = None
        self.moved = 0

    def start(self, total: int | None) -> None:
        self.total = total

    def advance(self, count: int) -> None:
        self.moved += count


def test_a_streamed_upload_reports_every_byte_once(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(bytes(range(256)) * 1000)
    counter = _Counter()
    received: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(request.read())
        return httpx.Response(201)

    with (
        ProgressFile(path, counter) as file,
        httpx.Client(transport=httpx.MockTransport(handler)) as http,
    ):
        file.read(1000)  # a retry starts over from the beginning: progress goes back too
        response = http.post("http://test/upload", files={"file": ("big.bin", file)})

    assert response.status_code == 201
    assert counter.moved == path.stat().st_size
    assert path.read_bytes() in received[0]
    assert response.request.headers["Content-Length"] == str(len(received[0]))
