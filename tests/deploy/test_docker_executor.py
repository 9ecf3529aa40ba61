"""TINYMLAAS_EXECUTOR=docker for real: one worker container per job, limited, removed after;
a job whose container is killed or removed ends failed with the reason, never stuck."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from deploy.engine import docker
from tinymlaas.app import create_app
from tinymlaas.config import Settings

from conftest import ADMIN_PASSWORD, Database, login
from support.job_rows import claimed_job, job_events, job_row
from support.jobs import wait_for_job
from support.processes import train

pytestmark = [
    pytest.mark.deploy,
    pytest.mark.slow,
    pytest.mark.parametrize("migrated_database", ["postgresql"], indirect=True),
]


@contextmanager
def docker_app(settings: Settings, image: str, **overrides: Any) -> Iterator[TestClient]:
    """An API whose jobs run in per-job containers of `image` (host network), logged in."""
    docker_settings = settings.model_copy(
        update={
            "executor": "docker",
            "docker_image": image,
            "docker_network": "host",
            "docker_cpus": 1.0,
            "docker_memory": "2g",
        }
        | overrides
    )
    with TestClient(create_app(docker_settings)) as client:
        client.headers.update(login(client, "admin", ADMIN_PASSWORD))
        try:
            yield client
        finally:
            for name in job_containers(client):
                docker("rm", "-f", name, check=False)


@pytest.fixture
def docker_client(settings: Settings, images: dict[str, str]) -> Iterator[TestClient]:
    with docker_app(settings, images["worker"]) as client:
        yield client


def job_containers(client: TestClient, job_id: int | None = None) -> list[str]:
    """Names of this app's job containers (running or not), optionally of one job."""
    filters = ["--filter", f"label=tinymlaas.scope={client.app.state.executor.scope}"]  # type: ignore[attr-defined]
    if job_id is not None:
        filters += ["--filter", f"label=tinymlaas.job={job_id}"]
    return docker("ps", "-a", *filters, "--format", "{{.Names}}").stdout.split()


def wait_for_container(client: TestClient, job_id: int, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = job_containers(client, job_id)
        if names:
            return names[0]
        time.sleep(0.1)
    raise AssertionError(f"no container was started for job {job_id}")


def wait_until_removed(client: TestClient, job_id: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while job_containers(client, job_id):
        assert time.monotonic() < deadline, f"job {job_id}'s container was not removed"
        time.sleep(0.2)


def wait_until_training(client: TestClient, job_id: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] == "running" and job["progress"] > 0.0:
            return
        assert job["status"] in ("queued", "running"), job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never started training: {job}")


def test_each_job_runs_in_its_own_limited_container_removed_afterwards(
    docker_client: TestClient,
) -> None:
    accepted = train(docker_client, epochs=2)
    job_id = accepted["job_id"]
    name = wait_for_container(docker_client, job_id)
    inspected = json.loads(docker("inspect", name).stdout)[0]

    assert inspected["Config"]["Entrypoint"] == ["tinymlaas"]
    assert inspected["Config"]["Cmd"] == ["worker", "--job", str(job_id)]
    assert inspected["Config"]["Labels"]["tinymlaas.job"] == str(job_id)
    host = inspected["HostConfig"]
    assert host["NanoCpus"] == 1_000_000_000
    assert host["Memory"] == 2 * 2**30
    assert not host["Binds"]
    assert [mount["Type"] for mount in inspected["Mounts"]] == []
    assert host["NetworkMode"] == "host"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    environment = dict(item.split("=", 1) for item in inspected["Config"]["Env"])
    settings = docker_client.app.state.settings  # type: ignore[attr-defined]
    assert environment["TINYMLAAS_DATABASE_URL"] == settings.database_url
    assert environment["TINYMLAAS_SECRET_KEY"] == settings.secret_key.get_secret_value()

    job = wait_for_job(docker_client, job_id, timeout=180)
    assert job["status"] == "succeeded", job
    model = docker_client.get(f"/api/v1/models/{accepted['id']}").json()
    assert model["status"] == "succeeded"
    assert len(model["history"]) == 2
    wait_until_removed(docker_client, job_id)


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        (("kill",), "exited with code 137 (SIGKILL)"),
        (("rm", "-f"), "worker container"),
    ],
    ids=["killed", "removed"],
)
def test_a_job_whose_container_dies_ends_failed_with_the_reason(
    docker_client: TestClient, how: tuple[str, ...], expected: str
) -> None:
    accepted = train(docker_client, epochs=1000)
    job_id = accepted["job_id"]
    name = wait_for_container(docker_client, job_id)
    wait_until_training(docker_client, job_id)

    docker(*how, name)
    job = wait_for_job(docker_client, job_id, timeout=60)

    assert job["status"] == "failed", job
    assert expected in job["error"], job["error"]
    assert name in job["error"]
    assert docker_client.get(f"/api/v1/models/{accepted['id']}").json()["status"] == "failed"
    wait_until_removed(docker_client, job_id)


def test_a_container_that_cannot_reach_the_database_fails_its_job_with_its_log(
    settings: Settings, images: dict[str, str]
) -> None:
    unreachable = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    with docker_app(settings, images["worker"], docker_database_url=unreachable) as client:
        accepted = train(client, epochs=1)
        job = wait_for_job(client, accepted["job_id"], timeout=90)
        assert job["status"] == "failed", job
        assert "exited with code 1" in job["error"]
        assert "last log lines:" in job["error"]
        assert "Connection refused" in job["error"] or "connection" in job["error"].lower()
        wait_until_removed(client, accepted["job_id"])


def test_a_container_that_finds_its_job_taken_leaves_it_to_its_runner(
    docker_client: TestClient, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """`worker --job` exits 3 when another runner has the job: not a failure of the job."""
    job_id = claimed_job(database, "another-runner:7")
    events_before = job_events(database, job_id)
    caplog.set_level(logging.INFO, logger="tinymlaas.jobs.docker_executor")
    docker_client.app.state.executor.submit(job_id)  # type: ignore[attr-defined]
    wait_for_container(docker_client, job_id)
    wait_until_removed(docker_client, job_id)
    said = f"(job {job_id} not run: another worker (another-runner:7) is running it)"
    deadline = time.monotonic() + 10
    while said not in caplog.text:
        assert time.monotonic() < deadline, f"the container did not exit 3:\n{caplog.text}"
        time.sleep(0.1)
    job = job_row(database, job_id)
    assert (job.status, job.worker, job.error) == ("running", "another-runner:7", None)
    assert job_events(database, job_id) == events_before
