"""Requests in flight per process: a saturated server queues requests instead of hanging.

A real uvicorn server on PostgreSQL with a tiny request thread pool, and many more clients than
threads or pooled connections.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from tinymlaas.app import create_app
from tinymlaas.config import Settings

from conftest import ADMIN_PASSWORD, Database

pytestmark = [
    pytest.mark.services,
    pytest.mark.parametrize("migrated_database", ["postgresql"], indirect=True),
]


@dataclass
class Server:
    url: str
    headers: dict[str, str]


def serve(settings: Settings) -> Iterator[Server]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    token = httpx.post(
        f"{url}/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
    ).json()["access_token"]
    yield Server(url, {"Authorization": f"Bearer {token}"})
    server.should_exit = True
    thread.join(timeout=30)
    listener.close()


@pytest.fixture
def small_server(settings: Settings) -> Iterator[Server]:
    """Two request threads, so ten pooled connections (plus eight overflow)."""
    yield from serve(settings.model_copy(update={"api_threads": 2, "db_pool_timeout_seconds": 2}))


@pytest.fixture
def one_slot_server(settings: Settings) -> Iterator[Server]:
    """One request at a time, and a request waits at most 0.5 s for it."""
    yield from serve(
        settings.model_copy(update={"api_threads": 1, "api_queue_timeout_seconds": 0.5})
    )


def test_many_more_clients_than_threads_and_connections_all_get_answers(
    small_server: Server,
) -> None:
    # 60 clients against 2 threads and 18 connections: without a limit on requests in flight,
    # the threads all waited for connections held by requests waiting for a thread, until
    # the pool timeout (2 s) answered 503.
    created = httpx.post(
        f"{small_server.url}/api/v1/datasets", json={"name": "d"}, headers=small_server.headers
    )
    assert created.status_code == 201, created.text
    dataset_id = created.json()["id"]

    def fetch(index: int) -> int:
        path = "/api/v1/datasets" if index % 2 else f"/api/v1/datasets/{dataset_id}"
        with httpx.Client(base_url=small_server.url, headers=small_server.headers) as http:
            return sum(http.get(path, timeout=60).status_code == 200 for _ in range(5))

    with ThreadPoolExecutor(max_workers=60) as pool:
        answered = sum(pool.map(fetch, range(60)))
    assert answered == 300


def test_a_request_that_waits_too_long_for_a_slot_gets_503_and_health_still_answers(
    one_slot_server: Server, database: Database
) -> None:
    server = one_slot_server
    created = httpx.post(
        f"{server.url}/api/v1/datasets", json={"name": "d"}, headers=server.headers
    )
    dataset_id = created.json()["id"]
    with database.engine.connect() as blocker:
        # Hold the dataset's row lock: renaming it (which locks that row) now waits, in the
        # one request slot.
        blocker.execute(
            text("SELECT id FROM datasets WHERE id = :id FOR UPDATE"), {"id": dataset_id}
        )
        with ThreadPoolExecutor(max_workers=1) as pool:
            rename = pool.submit(
                httpx.patch,
                f"{server.url}/api/v1/datasets/{dataset_id}",
                json={"name": "renamed"},
                headers=server.headers,
                timeout=30,
            )
            time.sleep(0.5)  # the rename is now waiting for the lock, holding the slot
            waiting = httpx.get(f"{server.url}/api/v1/datasets", headers=server.headers)
            assert waiting.status_code == 503
            assert "busy" in waiting.json()["detail"]
            health = httpx.get(f"{server.url}/api/v1/health")
            assert health.status_code == 200, "health must answer while the slots are taken"
            blocker.rollback()  # let the rename go on
            assert rename.result().status_code == 200
    listed = httpx.get(f"{server.url}/api/v1/datasets", headers=server.headers)
    assert listed.status_code == 200
    assert listed.json()["items"][0]["name"] == "renamed"
