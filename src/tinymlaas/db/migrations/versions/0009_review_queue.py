"""review queue: capture rules and review items

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import tinymlaas.db.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "capture_rules",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("below_score", sa.Float(), nullable=True),
        sa.Column("margin", sa.Float(), nullable=True),
        sa.Column("sample_per_hour", sa.Integer(), nullable=True),
        sa.Column("max_per_hour", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_capture_rules_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_capture_rules_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capture_rules")),
        sa.UniqueConstraint("device_id", name=op.f("uq_capture_rules_device_id")),
        mysql_charset="utf8mb4",
    )
    with op.batch_alter_table("capture_rules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_capture_rules_dataset_id"), ["dataset_id"], unique=False
        )

    op.create_table(
        "review_items",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("compiled_id", sa.Integer(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column(
            "label",
            sa.String(length=200)
            .with_variant(
                mysql.VARCHAR(charset="utf8mb4", collation="utf8mb4_bin", length=200), "mariadb"
            )
            .with_variant(
                mysql.VARCHAR(charset="utf8mb4", collation="utf8mb4_bin", length=200), "mysql"
            ),
            nullable=False,
        ),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("uncertainty", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["compiled_id"],
            ["compiled_models.id"],
            name=op.f("fk_review_items_compiled_id_compiled_models"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_review_items_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_review_items_device_id_devices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["sha256"], ["blobs.sha256"], name=op.f("fk_review_items_sha256_blobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
        mysql_charset="utf8mb4",
    )
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_review_items_dataset_id_uncertainty", ["dataset_id", "uncertainty"], unique=False
        )
        batch_op.create_index(
            "ix_review_items_device_id_created_at", ["device_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_review_items_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_items_sha256"))
        batch_op.drop_index("ix_review_items_device_id_created_at")
        batch_op.drop_index("ix_review_items_dataset_id_uncertainty")

    op.drop_table("review_items")
    with op.batch_alter_table("capture_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_capture_rules_dataset_id"))

    op.drop_table("capture_rules")
