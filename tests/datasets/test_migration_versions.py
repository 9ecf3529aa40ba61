"""Migration 0007 on every backend: up over existing models and datasets, and down again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from tinymlaas.db import migrate
from tinymlaas.db.session import make_session_factory
from tinymlaas.models import TrainedModel

from conftest import BACKENDS
from support.migrations import database_at, downgrade


@pytest.fixture(params=BACKENDS)
def at_0006(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh database migrated up to 0006 only."""
    with database_at(request.param, "0006", tmp_path) as engine:
        yield engine


def test_models_trained_before_versions_name_none_and_the_migration_goes_down(
    at_0006: Engine,
) -> None:
    now = datetime(2026, 11, 30, tzinfo=UTC).replace(tzinfo=None)
    with at_0006.begin() as connection:
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

    migrate.upgrade(at_0006, "0007")
    assert migrate.current_revision(at_0006) == "0007"
    with make_session_factory(at_0006)() as session:
        row = session.get_one(TrainedModel, 1)
        assert (row.dataset_version_id, row.dataset_version) == (None, None)
    tables = set(inspect(at_0006).get_table_names())
    assert {"dataset_versions", "dataset_version_images"} <= tables

    downgrade(at_0006, "0006")
    assert migrate.current_revision(at_0006) == "0006"
    inspector = inspect(at_0006)
    assert not {"dataset_versions", "dataset_version_images"} & set(inspector.get_table_names())
    columns = {column["name"] for column in inspector.get_columns("trained_models")}
    assert "dataset_version_id" not in columns
    assert "dataset_version" not in columns
    with at_0006.connect() as connection:
        assert connection.execute(text("SELECT name FROM trained_models")).scalar_one() == "m"
    migrate.upgrade(at_0006)  # and up again
    assert "dataset_versions" in inspect(at_0006).get_table_names()
