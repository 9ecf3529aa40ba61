"""device tests and captures: a compiled model tested on the board itself, camera frames
taken from a board into a dataset

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import tinymlaas.db.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_tests",
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("compiled_id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("split", sa.String(length=16), nullable=False),
        sa.Column("image_limit", sa.Integer(), nullable=True),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("image_ids", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("inputs_sha256", sa.String(length=64), nullable=True),
        sa.Column("input_bytes", sa.Integer(), nullable=True),
        sa.Column("host", sa.JSON(), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=True),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("bytes_sent", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_device_tests_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_tests_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["compiled_id"],
            ["compiled_models.id"],
            name=op.f("fk_device_tests_compiled_id_compiled_models"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_device_tests_dataset_id_datasets"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_device_tests_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["inputs_sha256"],
            ["blobs.sha256"],
            name=op.f("fk_device_tests_inputs_sha256_blobs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_tests")),
        sa.UniqueConstraint("job_id", name=op.f("uq_device_tests_job_id")),
        mysql_charset="utf8mb4",
    )
    with op.batch_alter_table("device_tests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_tests_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_device_tests_device_id"), ["device_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_device_tests_compiled_id"), ["compiled_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_device_tests_inputs_sha256"), ["inputs_sha256"], unique=False
        )

    op.create_table(
        "device_captures",
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column(
            "folder",
            sa.String(length=512)
            .with_variant(
                mysql.VARCHAR(charset="utf8mb4", collation="utf8mb4_bin", length=512), "mariadb"
            )
            .with_variant(
                mysql.VARCHAR(charset="utf8mb4", collation="utf8mb4_bin", length=512), "mysql"
            ),
            nullable=False,
        ),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("interval_ms", sa.Integer(), nullable=False),
        sa.Column("image_ids", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_device_captures_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_captures_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_device_captures_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_device_captures_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_captures")),
        sa.UniqueConstraint("job_id", name=op.f("uq_device_captures_job_id")),
        mysql_charset="utf8mb4",
    )
    with op.batch_alter_table("device_captures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_captures_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_device_captures_device_id"), ["device_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("device_captures")
    op.drop_table("device_tests")
