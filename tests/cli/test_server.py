"""Server-side commands run as a user would run them: real processes, real files."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

TINYMLAAS = [sys.executable, "-m", "tinymlaas"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYMLAAS_")}
    env["TINYMLAAS_DATA_DIR"] = str(data_dir)
    return env


def test_serve_on_the_embedded_default(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*TINYMLAAS, "serve", "--port", str(port)],
        env=clean_env(tmp_path / "data"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = None
        for _ in range(100):
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert health is not None, "server did not answer"
        assert health.json()["backend"] == "sqlite"
        assert (tmp_path / "data" / "tinymlaas.db").exists()
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    password = output.split("with password: ")[1].split()[0]
    assert len(password) >= 12


def test_serve_refuses_a_shared_database_without_secret_key(tmp_path: Path) -> None:
    env = clean_env(tmp_path) | {"TINYMLAAS_DATABASE_URL": "postgresql://postgres@127.0.0.1/x"}
    result = subprocess.run(
        [*TINYMLAAS, "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "TINYMLAAS_SECRET_KEY" in result.stderr


def test_db_upgrade_and_users_create(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    upgrade = subprocess.run(
        [*TINYMLAAS, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60
    )
    assert upgrade.returncode == 0, upgrade.stderr
    assert "Database at revision" in upgrade.stderr

    create = [*TINYMLAAS, "users", "create", "grace", "--password-stdin"]
    made = subprocess.run(
        create, env=env, input="hopper-1906\n", capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 0, made.stderr
    assert "Created user 'grace'" in made.stderr
    again = subprocess.run(
        create, env=env, input="hopper-1906\n", capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr
    short = [*TINYMLAAS, "users", "create", "alan", "--password-stdin"]
    weak = subprocess.run(short, env=env, input="short\n", capture_output=True, text=True)
    assert weak.returncode == 1
    assert "at least 8 characters" in weak.stderr

    from fastapi.testclient import TestClient

    from tinymlaas.app import create_app
    from tinymlaas.config import Settings

    with TestClient(create_app(Settings(data_dir=tmp_path))) as client:
        response = client.post(
            "/api/v1/auth/token", data={"username": "grace", "password": "hopper-1906"}
        )
        assert response.status_code == 200


@pytest.mark.slow
def test_serve_with_several_processes(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(tmp_path / "data") | {"TINYMLAAS_ADMIN_PASSWORD": "several-processes"}
    process = subprocess.Popen(
        [*TINYMLAAS, "serve", "--port", str(port), "--processes", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        token = httpx.post(
            f"{base}/auth/token", data={"username": "admin", "password": "several-processes"}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        answers = {httpx.get(f"{base}/users/me", headers=headers).status_code for _ in range(20)}
        assert answers == {200}
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert output.count("Started server process") == 2


def children(pid: int) -> list[int]:
    """The live child processes of `pid`, from /proc (Linux).

    Threads and children come and go while this reads; one that ended meanwhile is skipped.
    """
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return found


def command_line(pid: int) -> bytes:
    """The command line of `pid`, empty once it has ended."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def is_running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie (an ended process nobody has reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_local_worker_dies_with_a_killed_server(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*TINYMLAAS, "serve", "--port", str(port)],
        env=clean_env(tmp_path / "data") | {"TINYMLAAS_LOCAL_WORKERS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        workers: list[int] = []
        for _ in range(300):
            workers = [pid for pid in children(process.pid) if b"worker" in command_line(pid)]
            if workers:
                break
            time.sleep(0.1)
        assert len(workers) == 1, "the server started no local worker"
        time.sleep(2)  # the worker is past its start-up, taking jobs

        process.kill()
        process.wait(timeout=10)

        for _ in range(100):
            if not is_running(workers[0]):
                break
            time.sleep(0.1)
        assert not is_running(workers[0]), "the local worker outlived its server"
    finally:
        if process.poll() is None:
            process.kill()
        for pid in workers:
            if is_running(pid):
                os.kill(pid, signal.SIGKILL)
