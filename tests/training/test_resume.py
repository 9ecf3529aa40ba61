"""A training given back to the queue (its worker stopped) resumes after its last finished epoch."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tinymlaas.config import Settings

from support.jobs import parse_sse, wait_for_job
from support.processes import start_worker, stop, train, worker_env
from support.waiting import wait_for

pytestmark = pytest.mark.slow

EPOCHS = 40


def test_a_stopped_worker_s_training_continues_from_its_last_epoch(
    client: TestClient, settings: Settings
) -> None:
    env = worker_env(settings)
    first = start_worker(env, "--local")
    second = None
    try:
        accepted = train(client, epochs=EPOCHS)
        model_url, job_id = f"/api/v1/models/{accepted['id']}", accepted["job_id"]

        def epochs_done() -> int:
            return len(client.get(model_url).json()["history"])

        wait_for(lambda: epochs_done() >= 2, 120, "two finished epochs")
        stop(first)  # SIGTERM: the worker gives its job back to the queue
        assert client.get(f"/api/v1/jobs/{job_id}").json()["status"] == "queued"
        done = epochs_done()
        assert 2 <= done < EPOCHS
        second = start_worker(env, "--local")
        job = wait_for_job(client, job_id, timeout=240)
        assert job["status"] == "succeeded", job
    finally:
        stop(first)
        if second is not None:
            stop(second)

    model = client.get(model_url).json()
    assert [entry["epoch"] for entry in model["history"]] == list(range(1, EPOCHS + 1))
    assert model["metrics"]["epochs_run"] == EPOCHS
    with client.stream("GET", f"/api/v1/jobs/{job_id}/events") as response:
        events = parse_sse("".join(response.iter_text()))
    requeued = next(
        index
        for index, (kind, data) in enumerate(events)
        if kind == "state" and data["status"] == "queued" and index > 0
    )
    after: list[dict[str, Any]] = [data for kind, data in events[requeued:] if kind == "metric"]
    assert after[0]["epoch"] == done + 1, "the second worker started again from epoch 1"
    messages = [data.get("message", "") for kind, data in events[requeued:] if kind == "progress"]
    assert f"resuming after epoch {done}/{EPOCHS}" in messages
