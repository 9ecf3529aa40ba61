"""Several Celery workers on one broker: every job runs exactly once, spread over the workers."""

from __future__ import annotations

import secrets
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tinymlaas.app import create_app
from tinymlaas.config import Settings
from tinymlaas.models import JobEvent

from conftest import ADMIN_PASSWORD, Database, login
from support.factories import pattern_dataset_zip
from support.jobs import wait_for_job
from support.processes import start_worker, stop, worker_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("migrated_database", ["postgresql"], indirect=True),
]


def test_six_jobs_on_two_workers_run_once_each(settings: Settings, database: Database) -> None:
    queue = f"tinymlaas-scale-{secrets.token_hex(4)}"
    broker = "redis://127.0.0.1:6379/0"
    settings.broker_url, settings.celery_queue = broker, queue
    env = worker_env(settings, TINYMLAAS_BROKER_URL=broker, TINYMLAAS_CELERY_QUEUE=queue)
    workers = [start_worker(env, "--pool", "solo") for _ in range(2)]
    try:
        with TestClient(create_app(settings)) as client:
            client.headers.update(login(client, "admin", ADMIN_PASSWORD))
            dataset = client.post(
                "/api/v1/datasets/import",
                files={"file": ("p.zip", pattern_dataset_zip(per_class=8), "application/zip")},
                data={"name": "patterns"},
            ).json()
            accepted = [
                client.post(
                    "/api/v1/models",
                    json={
                        "name": f"m{index}",
                        "dataset_id": dataset["id"],
                        "architecture": "cnn-small",
                        "alpha": 0.5,
                        "input_width": 16,
                        "input_height": 16,
                        "epochs": 3,
                        "batch_size": 8,
                        "seed": index,
                    },
                ).json()
                for index in range(6)
            ]
            jobs = [wait_for_job(client, a["job_id"], timeout=300) for a in accepted]
        assert [job["status"] for job in jobs] == ["succeeded"] * 6
        assert all(job["attempts"] == 1 for job in jobs)
        used = Counter(job["worker"] for job in jobs)
        assert len(used) == 2, used  # both workers took jobs
        with database.factory() as session:
            starts = Counter(
                event.job_id
                for event in session.scalars(select(JobEvent).where(JobEvent.type == "state"))
                if event.data.get("status") == "running"
            )
        assert starts == Counter({a["job_id"]: 1 for a in accepted})
    finally:
        for worker in workers:
            stop(worker)
