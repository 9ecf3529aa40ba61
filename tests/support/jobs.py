"""Following a job through the API: polling its state and reading its event stream."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from support.waiting import POLL_SECONDS

Job = dict[str, Any]
FINISHED = ("succeeded", "failed", "cancelled")


def finished(job: Job) -> bool:
    return job["status"] in FINISHED


def api_url(client: httpx.Client, path: str) -> httpx.URL:
    """The URL of `/api/v1{path}`, whether the client's base URL is the server or its API root."""
    return client.base_url.join(f"/api/v1{path}")


def get_job(client: httpx.Client, job_id: int) -> Job:
    response = client.get(api_url(client, f"/jobs/{job_id}"))
    assert response.status_code == 200, response.text
    job: Job = response.json()
    return job


def wait_for_job(
    client: httpx.Client,
    job_id: int,
    timeout: float = 240,
    until: Callable[[Job], bool] = finished,
    what: str = "finishing",
) -> Job:
    """Poll a job until `until(job)` holds (by default: it has finished); returns that state.

    `client` is a TestClient or an httpx.Client of a served app (with its token).
    """
    deadline = time.monotonic() + timeout
    while True:
        job = get_job(client, job_id)
        if until(job):
            return job
        if time.monotonic() >= deadline:
            raise AssertionError(f"job {job_id} {what}: not within {timeout} s: {job}")
        time.sleep(POLL_SECONDS)


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) of every event in a server-sent-events body."""
    events = []
    for block in text.split("\r\n\r\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events
