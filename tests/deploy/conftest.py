"""Container images built and run for real: the engine, the images, a scratch database.

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
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import make_url

from deploy.engine import (
    API_IMAGE,
    ROOT,
    TAG,
    WORKER_IMAGE,
    Containers,
    ScratchDatabase,
    docker,
    engine_answers,
)
from tinymlaas.db.session import make_engine

from conftest import SERVER_URLS

BUILD_SECONDS = 900


@pytest.fixture(scope="session")
def container_engine() -> None:
    """A running Docker engine with the base image `python:3.11-slim`."""
    if (
        engine_answers()
        and docker("image", "inspect", "python:3.11-slim", check=False).returncode == 0
    ):
        return
    setup = subprocess.run(
        ["bash", str(ROOT / "docker" / "local-base.sh")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
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
    print(f"\nimages built in {time.monotonic() - started:.0f} s")  # noqa: T201 - seen with -s
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
