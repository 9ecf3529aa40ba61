"""Migration 0006 on every backend: compiled models made before it become engine "tflm"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tinymlaas.db import migrate
from tinymlaas.db.session import make_session_factory
from tinymlaas.models import CompiledModel

from conftest import BACKENDS
from support.migrations import database_at


@pytest.fixture(params=BACKENDS)
def at_0005(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh database migrated up to 0005 only."""
    with database_at(request.param, "0005", tmp_path) as engine:
        yield engine


def test_existing_compiled_models_become_tflm_with_no_c_figures(at_0005: Engine) -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC).replace(tzinfo=None)
    with at_0005.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, username, password_hash, is_admin, created_at, updated_at)"
                " VALUES (1, 'old', 'x', false, :now, :now)"
            ),
            {"now": now},
        )
        connection.execute(
            text(
                "INSERT INTO trained_models (id, owner_id, name, status, config, classes, history,"
                " created_at, updated_at) VALUES (1, 1, 'm', 'succeeded',"
                ' \'{"architecture": "cnn-small", "alpha": 1.0}\', \'["a", "b"]\', \'[]\','
                " :now, :now)"
            ),
            {"now": now},
        )
        connection.execute(
            text(
                "INSERT INTO compiled_models (id, owner_id, model_id, board, quantization, status,"
                " created_at, updated_at) VALUES (1, 1, 1, 'nano33ble', 'int8', 'succeeded',"
                " :now, :now)"
            ),
            {"now": now},
        )

    migrate.upgrade(at_0005)

    with make_session_factory(at_0005)() as session:
        row = session.get_one(CompiledModel, 1)
        assert (row.engine, row.activation, row.measured) == ("tflm", None, None)
    # Every later migration too: none loses them (SQLite rebuilds tables in batch migrations).
    assert migrate.current_revision(at_0005) == migrate.head_revision()
