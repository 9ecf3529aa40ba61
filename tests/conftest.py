"""Shared fixtures: a migrated database per backend (SQLite, PostgreSQL, MariaDB), app clients.

Database-facing tests take the `database` fixture (directly or through `client`) and so run
once per backend. Select backends with TINYMLAAS_TEST_BACKENDS=sqlite,postgresql,mariadb.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tinymlaas.app import create_app
from tinymlaas.config import Settings
from tinymlaas.db import migrate
from tinymlaas.db.base import Base
from tinymlaas.db.session import make_engine, make_session_factory


def pytest_configure(config: pytest.Config) -> None:
    """Rich reads COLUMNS once when a console is made (at import, for the CLI's consoles): with
    it unset they follow the environment of each test (tests/cli sets the width it needs).
    Parallel workers (pytest-xdist) inherit a COLUMNS of their own."""
    os.environ.pop("COLUMNS", None)
    # Property tests check behaviour, not speed: on a busy 2-core machine one example may take
    # longer than Hypothesis's default 200 ms deadline without anything being wrong.
    try:
        from hypothesis import settings
    except ImportError:
        return
    settings.register_profile("tinymlaas", deadline=None)
    settings.load_profile("tinymlaas")


ALL_BACKENDS = ("sqlite", "postgresql", "mariadb")
BACKENDS = tuple(
    name.strip()
    for name in os.environ.get("TINYMLAAS_TEST_BACKENDS", ",".join(ALL_BACKENDS)).split(",")
    if name.strip()
)
SERVER_URLS = {
    "postgresql": os.environ.get(
        "TINYMLAAS_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    ),
    "mariadb": os.environ.get("TINYMLAAS_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/"),
}
ADMIN_PASSWORD = "admin-password-for-tests"
SECRET_KEY = "test-secret-key-" + "x" * 32


@dataclass
class Database:
    backend: str
    url: str
    engine: Engine
    factory: sessionmaker[Session]

    def clear(self) -> None:
        try:
            self._delete_everything()
        except OperationalError:
            # A test restarted the database server: the pooled connections are gone.
            self.engine.dispose()
            self._delete_everything()

    def _delete_everything(self) -> None:
        with self.factory.begin() as session:
            for table in reversed(Base.metadata.sorted_tables):
                session.execute(delete(table))


def _create_server_database(backend: str, name: str) -> str:
    server = make_url(SERVER_URLS[backend])
    engine = make_engine(server.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        if backend == "postgresql":
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        else:
            connection.exec_driver_sql(
                f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
    engine.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def _drop_server_database(backend: str, name: str) -> None:
    engine = make_engine(SERVER_URLS[backend], isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        if backend == "postgresql":
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """A fresh database per backend for the whole run, built by running the migrations."""
    backend: str = request.param
    name = f"tinymlaas_test_{os.getpid()}_{secrets.token_hex(3)}"
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'test.db'}"
    else:
        url = _create_server_database(backend, name)
    engine = make_engine(url)
    migrate.upgrade(engine)
    yield Database(backend, url, engine, make_session_factory(engine))
    engine.dispose()
    if backend != "sqlite":
        _drop_server_database(backend, name)


@pytest.fixture
def database(migrated_database: Database) -> Iterator[Database]:
    """The backend's database, emptied after the test."""
    yield migrated_database
    migrated_database.clear()


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    """A session on the backend's database for service-level tests; rolled back after."""
    with database.factory() as session:
        yield session
        session.rollback()


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database.url,
        secret_key=SECRET_KEY,
        admin_username="admin",
        admin_password=ADMIN_PASSWORD,
        local_workers=0,
        job_poll_seconds=0.1,
        job_heartbeat_seconds=1.0,
    )


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    """An unauthenticated client of an app whose startup migrated and created the admin."""
    app = create_app(settings)
    with TestClient(app) as test_client:
        yield test_client


def login(client: TestClient, username: str, password: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    """A client logged in as the admin."""
    app_client.headers.update(login(app_client, "admin", ADMIN_PASSWORD))
    return app_client


@pytest.fixture
def make_user_client(app_client: TestClient, client: TestClient) -> Callable[[str], TestClient]:
    """Create a user through the API and return a client logged in as that user."""
    clients: list[TestClient] = []

    def make(username: str) -> TestClient:
        password = f"{username}-password"
        response = client.post("/api/v1/users", json={"username": username, "password": password})
        assert response.status_code == 201, response.text
        other = TestClient(client.app)
        other.headers.update(login(other, username, password))
        clients.append(other)
        return other

    return make


@pytest.fixture
def local_worker(settings: Settings) -> Iterator[None]:
    """A local worker (the loop of `tinymlaas worker --local`) in a thread of this process."""
    from tinymlaas.jobs.worker import local_worker_loop

    stop = threading.Event()
    thread = threading.Thread(target=local_worker_loop, args=(settings, stop), daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=120)


STARTUP_SECONDS = 30


@pytest.fixture
def server_url(settings: Settings) -> Iterator[str]:
    """The URL of the app served by uvicorn on a free 127.0.0.1 port in a background thread."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        assert thread.is_alive(), "the server thread stopped during startup"
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"the server did not answer within {STARTUP_SECONDS}s"
        time.sleep(0.05)
    yield url
    server.should_exit = True
    thread.join(timeout=STARTUP_SECONDS)
    listener.close()
    assert not thread.is_alive(), "the server did not shut down"
