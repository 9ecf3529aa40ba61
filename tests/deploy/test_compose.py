"""docker-compose.yml run whole: PostgreSQL, Redis, the API and two workers from the real images
(the service images are the local stand-ins of docker/local-services.sh on a machine without a
registry). A model trained through the stack, and everything it came from, survives `down`/`up`."""

from __future__ import annotations

import httpx
import pytest

from deploy.engine import ComposeProject, docker, wait_for_health
from deploy.test_stack import train_tiny_model

# Service image builds on a first run, two stack starts and a training job.
pytestmark = [pytest.mark.deploy, pytest.mark.slow, pytest.mark.timeout(900)]

WORKERS = 2


def start(project: ComposeProject) -> str:
    """`up -d` with two workers (images as built, never rebuilt); the API container's id once it
    serves."""
    up = project.run("up", "-d", "--no-build", "--scale", f"worker={WORKERS}", check=False)
    assert up.returncode == 0, f"{up.stderr}\n{project.run('logs', '--tail', '40').stdout}"
    [api] = project.container_ids("api")
    health = wait_for_health(project.api_url, api, timeout=120)
    assert health["status"] == "ok"
    assert health["backend"] == "postgresql"
    return api


def log_in(http: httpx.Client, project: ComposeProject) -> None:
    """As the administrator of the project's `.env`."""
    password = project.environment["TINYMLAAS_ADMIN_PASSWORD"]
    token = http.post("/api/v1/auth/token", data={"username": "admin", "password": password})
    assert token.status_code == 200, token.text
    http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"


def test_the_compose_stack_trains_and_keeps_its_data_across_down_and_up(
    compose_project: ComposeProject,
) -> None:
    project = compose_project
    start(project)
    workers = project.container_ids("worker")
    assert len(workers) == WORKERS
    assert "Database at revision" in project.logs("api")  # migrations ran before serving

    with httpx.Client(base_url=project.api_url, timeout=60) as http:
        log_in(http, project)
        accepted, job = train_tiny_model(http)
        assert job["status"] == "succeeded", (job, project.logs("worker")[-3000:])
        model = http.get(f"/api/v1/models/{accepted['id']}").json()
        assert model["status"] == "succeeded"
        assert len(model["history"]) == 2

    # A worker container ran it: the job records "hostname:pid", a container's hostname is the
    # start of its id (the API image could not have: it has no TensorFlow).
    assert job["worker"].split(":")[0] in {worker[:12] for worker in workers}
    assert "tinymlaas.run_job" in project.logs("worker")

    # `down` removes the containers and the networks, not the named volumes.
    volumes = project.volumes()
    assert {volume.rsplit("_", 1)[-1] for volume in volumes} == {
        "postgres-data",
        "redis-data",
        "weights",
    }
    project.run("down", "--timeout", "20")
    assert project.run("ps", "-q").stdout.split() == []
    assert docker("ps", "-aq", "--filter", f"id={workers[0]}").stdout.strip() == ""
    assert project.volumes() == volumes

    start(project)
    assert set(project.container_ids("worker")).isdisjoint(workers)  # new containers
    with httpx.Client(base_url=project.api_url, timeout=60) as http:
        log_in(http, project)  # the administrator, from the kept database
        kept_dataset = http.get(f"/api/v1/datasets/{model['dataset_id']}")
        assert kept_dataset.status_code == 200, kept_dataset.text
        assert kept_dataset.json()["name"] == "patterns"
        assert kept_dataset.json()["image_count"] == 24
        kept_model = http.get(f"/api/v1/models/{model['id']}").json()
        assert kept_model["status"] == "succeeded"
        assert kept_model["history"] == model["history"]
        kept_job = http.get(f"/api/v1/jobs/{job['id']}").json()
        assert kept_job["status"] == "succeeded"
        assert kept_job["worker"] == job["worker"]
