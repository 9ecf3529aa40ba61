"""review_capture_hours: per device and hour, frames kept for review and dropped

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

import tinymlaas.db.base

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    hours = op.create_table(
        "review_capture_hours",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("hour", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.Column("kept", sa.Integer(), nullable=False),
        sa.Column("dropped_hourly_cap", sa.Integer(), nullable=False),
        sa.Column("dropped_queue_full", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_review_capture_hours_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_capture_hours")),
        sa.UniqueConstraint(
            "device_id", "hour", name=op.f("uq_review_capture_hours_device_id_hour")
        ),
    )
    _backfill(hours)


def _backfill(hours: sa.Table) -> None:
    """Frames still waiting in a review queue counted as kept in their hour (the decided ones
    left no trace: the totals start from what is waiting)."""
    items = sa.table(
        "review_items",
        sa.column("device_id", sa.Integer()),
        sa.column("created_at", tinymlaas.db.base.UTCDateTime()),
    )
    kept: dict[tuple[int, datetime], int] = {}
    query = sa.select(items.c.device_id, items.c.created_at).where(items.c.device_id.is_not(None))
    for device_id, created_at in op.get_bind().execute(query):
        key = (device_id, created_at.replace(minute=0, second=0, microsecond=0))
        kept[key] = kept.get(key, 0) + 1
    if kept:
        op.bulk_insert(
            hours,
            [
                {
                    "device_id": device_id,
                    "hour": hour,
                    "kept": count,
                    "dropped_hourly_cap": 0,
                    "dropped_queue_full": 0,
                    "rejected": 0,
                }
                for (device_id, hour), count in kept.items()
            ],
        )


def downgrade() -> None:
    op.drop_table("review_capture_hours")
