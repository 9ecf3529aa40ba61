"""Helpers of the deploy tests: the docker CLI, waiting for a served API, test containers."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
TAG = "test"
API_IMAGE = f"tinymlaas-api:{TAG}"
WORKER_IMAGE = f"tinymlaas-worker:{TAG}"


@dataclass
class ScratchDatabase:
    name: str
    url: str  # as seen from this machine, and from containers on the host network


def docker(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI; output captured as text."""
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return docker("info", timeout=30, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return int(listener.getsockname()[1])


def wait_for_health(url: str, container: str, timeout: float = 90) -> dict:  # type: ignore[type-arg]
    """Poll /api/v1/health until 200; fails with the container's log if it stops or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{url}/api/v1/health", timeout=2)
            if response.status_code == 200:
                return response.json()  # type: ignore[no-any-return]
        except httpx.TransportError:
            pass
        state = docker("inspect", "--format", "{{.State.Status}}", container, check=False)
        if state.stdout.strip() not in ("running", "created"):
            break
        time.sleep(0.5)
    logs = docker("logs", "--tail", "50", container, check=False)
    raise AssertionError(f"{container} never became healthy:\n{logs.stdout}\n{logs.stderr}")


class Containers:
    """Containers a test started (on the host network); all force-removed at its end."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def run(self, image: str, *args: str, env: dict[str, str], name_hint: str) -> str:
        name = f"tinymlaas-test-{name_hint}-{secrets.token_hex(3)}"
        environment = [item for key, value in env.items() for item in ("-e", f"{key}={value}")]
        docker("run", "-d", "--name", name, "--network", "host", *environment, image, *args)
        self.names.append(name)
        return name

    def logs(self, name: str) -> str:
        result = docker("logs", name, check=False)
        return result.stdout + result.stderr

    def remove_all(self) -> None:
        for name in self.names:
            docker("rm", "-f", name, check=False)


class ComposeProject:
    """docker-compose.yml run by Debian's docker-compose (v1) as a project of its own.

    The directory holds the project's `.env` (compose reads it from the project directory, and
    the services' `env_file: .env` too) and an override naming the backend network after the
    project: the compose file gives that network the fixed name `tinymlaas-backend`, which a
    real deployment on this machine would share.
    """

    def __init__(self, directory: Path, environment: dict[str, str]) -> None:
        self.directory = directory
        self.environment = environment
        self.name = f"tinymlaas-test-{secrets.token_hex(4)}"
        (directory / ".env").write_text(
            "".join(f"{key}={value}\n" for key, value in environment.items())
        )
        override = directory / "docker-compose.test.yml"
        override.write_text(f"networks:\n  backend:\n    name: {self.name}-backend\n")
        self.files = [ROOT / "docker-compose.yml", override]

    def run(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """docker-compose ARGS for this project; output captured as text."""
        files = [item for path in self.files for item in ("-f", str(path))]
        command = ["docker-compose", "--project-directory", str(self.directory), "-p", self.name]
        result = subprocess.run(
            [*command, *files, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker-compose {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
            )
        return result

    @property
    def api_url(self) -> str:
        return f"http://{self.environment['API_BIND']}:{self.environment['API_PORT']}"

    def container_ids(self, service: str) -> list[str]:
        return self.run("ps", "-q", service).stdout.split()

    def logs(self, service: str) -> str:
        result = self.run("logs", "--no-color", service, check=False)
        return result.stdout + result.stderr

    def volumes(self) -> list[str]:
        """The engine's names of the project's volumes."""
        label = f"label=com.docker.compose.project={self.name}"
        return sorted(docker("volume", "ls", "-q", "--filter", label).stdout.split())
