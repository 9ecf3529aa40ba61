"""observation_hours: hourly aggregates of observations; devices.dropped_predictions

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import tinymlaas.db.base

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
BACKFILL_BATCH = 10_000


def upgrade() -> None:
    exact = mysql.VARCHAR(charset="utf8mb4", collation="utf8mb4_bin", length=200)
    hours = op.create_table(
        "observation_hours",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("hour", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.Column("compiled_id", sa.Integer(), nullable=False),
        sa.Column(
            "label",
            sa.String(length=200).with_variant(exact, "mariadb").with_variant(exact, "mysql"),
            nullable=False,
        ),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("latency_sum_ms", sa.Float(), nullable=False),
        sa.Column("latency_max_ms", sa.Float(), nullable=False),
        sa.Column("top_score_sum", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_observation_hours_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observation_hours")),
        sa.UniqueConstraint(
            "device_id",
            "hour",
            "compiled_id",
            "label",
            name=op.f("uq_observation_hours_device_id"),
        ),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dropped_predictions", sa.Integer(), nullable=False, server_default="0")
        )
    _backfill(hours)


def _backfill(hours: sa.Table) -> None:
    """Existing observations folded into their hours (read in batches, written once)."""
    observations = sa.table(
        "observations",
        sa.column("id", sa.Integer()),
        sa.column("device_id", sa.Integer()),
        sa.column("compiled_id", sa.Integer()),
        sa.column("ts", tinymlaas.db.base.UTCDateTime()),
        sa.column("label", sa.String()),
        sa.column("scores", sa.JSON()),
        sa.column("latency_ms", sa.Float()),
    )
    connection = op.get_bind()
    totals: dict[tuple[int, datetime, int, str], list[float]] = {}
    last = 0
    while True:
        rows = connection.execute(
            sa.select(observations)
            .where(observations.c.id > last)
            .order_by(observations.c.id)
            .limit(BACKFILL_BATCH)
        ).all()
        if not rows:
            break
        last = rows[-1].id
        for row in rows:
            _add(totals, row)
    if totals:
        op.bulk_insert(
            hours,
            [
                {
                    "device_id": device_id,
                    "hour": hour,
                    "compiled_id": compiled_id,
                    "label": label,
                    "count": int(total[0]),
                    "latency_sum_ms": total[1],
                    "latency_max_ms": total[2],
                    "top_score_sum": total[3],
                }
                for (device_id, hour, compiled_id, label), total in totals.items()
            ],
        )


def _add(totals: dict[tuple[int, datetime, int, str], list[float]], row: Any) -> None:
    hour = row.ts.replace(minute=0, second=0, microsecond=0)
    key = (row.device_id, hour, row.compiled_id or 0, row.label)
    latency = float(row.latency_ms or 0.0)
    scores = row.scores if isinstance(row.scores, dict) else {}
    top = max((float(v) for v in scores.values() if isinstance(v, int | float)), default=0.0)
    total = totals.setdefault(key, [0, 0.0, 0.0, 0.0])
    total[0] += 1
    total[1] += latency
    total[2] = max(total[2], latency)
    total[3] += top


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("dropped_predictions")
    op.drop_table("observation_hours")
