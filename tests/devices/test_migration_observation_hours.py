"""Migration 0012 on every backend: existing observations folded into hours, and down again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from tinymlaas.db import migrate

from conftest import BACKENDS
from support.migrations import database_at, downgrade, seed_device

NOW = datetime(2026, 11, 30, 10, 0)


@pytest.fixture(params=BACKENDS)
def at_0011(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with database_at(request.param, "0011", tmp_path) as engine:
        yield engine


def _seed(engine: Engine) -> None:
    with engine.begin() as connection:
        seed_device(connection, NOW)
        for seq, (minute, label, latency) in enumerate(
            [(5, "cat", 10.0), (50, "cat", 30.0), (70, "dog", 7.0)]
        ):
            connection.execute(
                text(
                    "INSERT INTO observations (device_id, ts, seq, label, scores, latency_ms)"
                    " VALUES (1, :ts, :seq, :label, :scores, :latency)"
                ),
                {
                    "ts": NOW + timedelta(minutes=minute),
                    "seq": seq,
                    "label": label,
                    "scores": '{"cat": 0.75, "dog": 0.25}',
                    "latency": latency,
                },
            )


def test_observations_are_folded_into_hours_and_the_migration_goes_down(at_0011: Engine) -> None:
    _seed(at_0011)
    migrate.upgrade(at_0011, "0012")
    with at_0011.connect() as connection:
        hours = connection.execute(
            text(
                "SELECT hour, compiled_id, label, count, latency_sum_ms, latency_max_ms,"
                " top_score_sum FROM observation_hours ORDER BY hour, label"
            )
        ).all()
        dropped = connection.execute(text("SELECT dropped_predictions FROM devices")).scalar()
    assert [tuple(row[1:]) for row in hours] == [
        (0, "cat", 2, 40.0, 30.0, 1.5),
        (0, "dog", 1, 7.0, 7.0, 0.75),
    ]
    assert [datetime.fromisoformat(str(row[0])) for row in hours] == [NOW, NOW.replace(hour=11)]
    assert dropped == 0

    downgrade(at_0011, "0011")
    inspector = inspect(at_0011)
    assert "observation_hours" not in inspector.get_table_names()
    assert "dropped_predictions" not in {c["name"] for c in inspector.get_columns("devices")}
