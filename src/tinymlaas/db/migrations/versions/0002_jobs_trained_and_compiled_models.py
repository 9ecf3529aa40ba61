"""jobs trained and compiled models

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import tinymlaas.db.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", tinymlaas.db.base.UTCDateTime(), nullable=True),
        sa.Column("finished_at", tinymlaas.db.base.UTCDateTime(), nullable=True),
        sa.Column("heartbeat_at", tinymlaas.db.base.UTCDateTime(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_jobs_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        mysql_charset="utf8mb4",
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_owner_id_status", ["owner_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_jobs_status"), ["status"], unique=False)

    op.create_table(
        "job_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_events_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_events")),
        mysql_charset="utf8mb4",
    )
    with op.batch_alter_table("job_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_events_job_id"), ["job_id"], unique=False)

    op.create_table(
        "trained_models",
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column(
            "name",
            sa.String(length=200)
            .with_variant(
                mysql.VARCHAR(charset="utf8mb4", collation="utf8mb4_bin", length=200), "mariadb"
            )
            .with_variant(
                mysql.VARCHAR(charset="utf8mb4", collation="utf8mb4_bin", length=200), "mysql"
            ),
            nullable=False,
        ),
        sa.Column("dataset_id", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("base_model_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("classes", sa.JSON(), nullable=False),
        sa.Column("parameter_count", sa.Integer(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("training_info", sa.JSON(), nullable=True),
        sa.Column("keras_sha256", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["base_model_id"],
            ["trained_models.id"],
            name=op.f("fk_trained_models_base_model_id_trained_models"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_trained_models_dataset_id_datasets"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_trained_models_job_id_jobs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["keras_sha256"], ["blobs.sha256"], name=op.f("fk_trained_models_keras_sha256_blobs")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_trained_models_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trained_models")),
        mysql_charset="utf8mb4",
    )
    with op.batch_alter_table("trained_models", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trained_models_dataset_id"), ["dataset_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_trained_models_keras_sha256"), ["keras_sha256"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_trained_models_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "compiled_models",
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("board", sa.String(length=32), nullable=False),
        sa.Column("quantization", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tflite_bytes", sa.BigInteger(), nullable=True),
        sa.Column("arena_bytes", sa.BigInteger(), nullable=True),
        sa.Column("flash_estimate_bytes", sa.BigInteger(), nullable=True),
        sa.Column("ram_estimate_bytes", sa.BigInteger(), nullable=True),
        sa.Column("fits", sa.Boolean(), nullable=True),
        sa.Column("fit_detail", sa.JSON(), nullable=True),
        sa.Column("accuracy", sa.JSON(), nullable=True),
        sa.Column("input", sa.JSON(), nullable=True),
        sa.Column("output", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_compiled_models_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["trained_models.id"],
            name=op.f("fk_compiled_models_model_id_trained_models"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_compiled_models_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compiled_models")),
        mysql_charset="utf8mb4",
    )
    with op.batch_alter_table("compiled_models", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_compiled_models_model_id"), ["model_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_compiled_models_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "compiled_files",
        sa.Column("compiled_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["compiled_id"],
            ["compiled_models.id"],
            name=op.f("fk_compiled_files_compiled_id_compiled_models"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sha256"], ["blobs.sha256"], name=op.f("fk_compiled_files_sha256_blobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compiled_files")),
        sa.UniqueConstraint("compiled_id", "name", name=op.f("uq_compiled_files_compiled_id_name")),
        mysql_charset="utf8mb4",
    )
    with op.batch_alter_table("compiled_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_compiled_files_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("compiled_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_compiled_files_sha256"))

    op.drop_table("compiled_files")
    with op.batch_alter_table("compiled_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_compiled_models_owner_id"))
        batch_op.drop_index(batch_op.f("ix_compiled_models_model_id"))

    op.drop_table("compiled_models")
    with op.batch_alter_table("trained_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trained_models_owner_id"))
        batch_op.drop_index(batch_op.f("ix_trained_models_keras_sha256"))
        batch_op.drop_index(batch_op.f("ix_trained_models_dataset_id"))

    op.drop_table("trained_models")
    with op.batch_alter_table("job_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_events_job_id"))

    op.drop_table("job_events")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_status"))
        batch_op.drop_index("ix_jobs_owner_id_status")

    op.drop_table("jobs")
