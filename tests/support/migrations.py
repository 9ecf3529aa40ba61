"""Databases stopped at an older migration, on every backend, for tests of one migration."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from sqlalchemy import Engine

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
