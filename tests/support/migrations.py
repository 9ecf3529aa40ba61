"""Databases stopped at an older migration, on every backend, for tests of one migration."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from alembic import command
from sqlalchemy import Connection, Engine, text

from tinymlaas.db import migrate
from tinymlaas.db.session import make_engine

from conftest import _create_server_database, _drop_server_database


@contextmanager
def database_at(backend: str, revision: str, folder: Path) -> Iterator[Engine]:
    """A fresh database of this backend migrated up to `revision` only, dropped afterwards."""
    name = f"tinymlaas_mig_{os.getpid()}_{secrets.token_hex(3)}"
    url = f"sqlite:///{folder / 'm.db'}" if backend == "sqlite" else (
        _create_server_database(backend, name)
    )  # fmt: skip
    engine = make_engine(url)
    try:
        migrate.upgrade(engine, revision)
        yield engine
    finally:
        engine.dispose()
        if backend != "sqlite":
            _drop_server_database(backend, name)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database down to `revision` as `alembic downgrade` would."""
    config = migrate.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


# A user (1) with a bridge (1) and its device (1), as the tables have stood since 0011.
DEVICE_ROWS = [
    "INSERT INTO users (id, username, password_hash, is_admin, created_at, updated_at)"
    " VALUES (1, 'old', 'x', false, :now, :now)",
    "INSERT INTO bridges (id, owner_id, name, token_sha256, connected, created_at,"
    " updated_at) VALUES (1, 1, 'b', :sha, false, :now, :now)",
    "INSERT INTO devices (id, owner_id, bridge_id, identity, name, port, description,"
    " virtual, present, busy, created_at, updated_at) VALUES (1, 1, 1, 'SN', 'n',"
    " '/dev/a', '', false, false, false, :now, :now)",
]


def seed_device(connection: Connection, now: datetime) -> None:
    """Insert DEVICE_ROWS: user 1, bridge 1 and device 1."""
    for statement in DEVICE_ROWS:
        connection.execute(text(statement), {"now": now, "sha": "0" * 64})
