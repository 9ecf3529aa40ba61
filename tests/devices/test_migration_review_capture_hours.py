"""Migration 0014 on every backend: frames waiting in review counted as kept, and down again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from tinymlaas.db import migrate

from conftest import BACKENDS
from support.migrations import database_at, downgrade, seed_device

NOW = datetime(2026, 12, 1, 10, 0)


@pytest.fixture(params=BACKENDS)
def at_0013(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with database_at(request.param, "0013", tmp_path) as engine:
        yield engine


def _seed(engine: Engine) -> None:
    with engine.begin() as connection:
        seed_device(connection, NOW)
        connection.execute(
            text(
                "INSERT INTO datasets (id, owner_id, name, description, created_at, updated_at)"
                " VALUES (1, 1, 'pets', '', :now, :now)"
            ),
            {"now": NOW},
        )
        connection.execute(
            text(
                "INSERT INTO blobs (sha256, size_bytes, chunk_count, created_at)"
                " VALUES (:sha, 1, 0, :now)"
            ),
            {"now": NOW, "sha": "0" * 64},
        )
        # Two frames of device 1 in the 10:00 hour, one at 11:10, one of a deleted device.
        for device_id, minute in [(1, 5), (1, 50), (1, 70), (None, 20)]:
            connection.execute(
                text(
                    "INSERT INTO review_items (dataset_id, device_id, seq, label, scores,"
                    " uncertainty, reason, width, height, format, size_bytes, sha256,"
                    " created_at, updated_at) VALUES (1, :device_id, 1, 'cat',"
                    " '{\"cat\": 0.5}', 0.5, 'below_score', 1, 1, 'PNG', 1, :sha, :at, :at)"
                ),
                {"device_id": device_id, "sha": "0" * 64, "at": NOW + timedelta(minutes=minute)},
            )


def test_waiting_frames_count_as_kept_and_the_migration_goes_down(at_0013: Engine) -> None:
    _seed(at_0013)
    migrate.upgrade(at_0013, "0014")
    with at_0013.connect() as connection:
        hours = connection.execute(
            text(
                "SELECT device_id, hour, kept, dropped_hourly_cap, dropped_queue_full, rejected"
                " FROM review_capture_hours ORDER BY hour"
            )
        ).all()
    assert [(row[0], *row[2:]) for row in hours] == [(1, 2, 0, 0, 0), (1, 1, 0, 0, 0)]
    assert [datetime.fromisoformat(str(row[1])) for row in hours] == [NOW, NOW.replace(hour=11)]

    downgrade(at_0013, "0013")
    assert "review_capture_hours" not in inspect(at_0013).get_table_names()
