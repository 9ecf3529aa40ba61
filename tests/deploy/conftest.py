"""Container images built and run for real: the engine, the images, a scratch database, and
docker-compose.yml as a project of its own.

The engine is Docker (Debian's docker.io). When it does not answer, `docker/local-base.sh` is run
to start it (and to make the base image, since no registry is reachable here); the tests skip
only when no engine can be started at all. Images are built once per session by
`docker/build.sh` (the BuildKit layer cache makes an unchanged rebuild take seconds), tagged
`:test`.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url

from deploy.engine import (
    API_IMAGE,
    ROOT,
    TAG,
    WORKER_IMAGE,
    ComposeProject,
    Containers,
    ScratchDatabase,
    docker,
    engine_answers,
    free_port,
)
from tinymlaas.db.session import make_engine

from conftest import SERVER_URLS

BUILD_SECONDS = 900
SERVICE_IMAGES = ("postgres:16-bookworm", "redis:7-bookworm")


def run_test_aid(script: str) -> subprocess.CompletedProcess[str]:
    """Run one of docker/'s test-aid scripts (they make images no registry can give us here)."""
    return subprocess.run(
        ["bash", str(ROOT / "docker" / script)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="session")
def container_engine() -> None:
    """A running Docker engine with the base image `python:3.11-slim`."""
    if (
        engine_answers()
        and docker("image", "inspect", "python:3.11-slim", check=False).returncode == 0
    ):
        return
    setup = run_test_aid("local-base.sh")
    if not engine_answers():
        pytest.skip(
            "no container engine could be started on this machine (docker/local-base.sh):\n"
            + setup.stderr[-2000:]
        )
    assert setup.returncode == 0, f"docker/local-base.sh failed:\n{setup.stderr[-4000:]}"


@pytest.fixture(scope="session")
def images(container_engine: None) -> dict[str, str]:
    """The api and worker images, built once per session from this checkout."""
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(ROOT / "docker" / "build.sh"), "api", "worker"],
        env=os.environ | {"TAG": TAG},
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"image build failed:\n{result.stderr[-6000:]}"
    print(f"\nimages built in {time.monotonic() - started:.0f} s")
    return {"api": API_IMAGE, "worker": WORKER_IMAGE}


@pytest.fixture
def scratch_database() -> Iterator[ScratchDatabase]:
    """An empty PostgreSQL database on this machine (no migrations run), dropped afterwards."""
    server = make_url(SERVER_URLS["postgresql"])
    name = f"tinymlaas_deploy_{os.getpid()}_{secrets.token_hex(3)}"
    admin = make_engine(server.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield ScratchDatabase(name, server.set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def containers() -> Iterator[Containers]:
    """Start containers through this; they are removed when the test ends."""
    started = Containers()
    yield started
    started.remove_all()


@pytest.fixture(scope="session")
def service_images(container_engine: None) -> None:
    """The images of docker-compose.yml's db and redis: stand-ins made by docker/local-services.sh
    when the engine has none (no registry is reachable here)."""
    if all(
        docker("image", "inspect", image, check=False).returncode == 0 for image in SERVICE_IMAGES
    ):
        return
    setup = run_test_aid("local-services.sh")
    assert setup.returncode == 0, f"docker/local-services.sh failed:\n{setup.stderr[-4000:]}"


@pytest.fixture
def compose_project(images: dict[str, str], service_images: None) -> Iterator[ComposeProject]:
    """docker-compose.yml as a project of its own with a fresh `.env` (random secrets, the API on
    a free port of 127.0.0.1, the `:test` images); `down -v` and its files deleted at the end."""
    with tempfile.TemporaryDirectory(prefix="tinymlaas-compose-") as directory:
        project = ComposeProject(
            Path(directory),
            {
                "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
                "TINYMLAAS_SECRET_KEY": secrets.token_urlsafe(48),
                "TINYMLAAS_ADMIN_USERNAME": "admin",
                "TINYMLAAS_ADMIN_PASSWORD": secrets.token_urlsafe(16),
                "API_BIND": "127.0.0.1",
                "API_PORT": str(free_port()),
                "IMAGE_TAG": TAG,
                "WORKER_CPUS": "1",
                "WORKER_MEMORY": "2g",
            },
        )
        try:
            yield project
        finally:
            project.run("down", "-v", "--remove-orphans", "--timeout", "10", check=False)
