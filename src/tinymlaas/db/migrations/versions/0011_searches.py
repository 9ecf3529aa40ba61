"""searches: model searches over the catalog under a board's limits, and their candidates

Revision ID: 0011
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import tinymlaas.db.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    exact = mysql.VARCHAR(charset="utf8mb4", collation="utf8mb4_bin", length=200)
    op.create_table(
        "searches",
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column(
            "name",
            sa.String(length=200).with_variant(exact, "mariadb").with_variant(exact, "mysql"),
            nullable=False,
        ),
        sa.Column("dataset_id", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("board", sa.String(length=32), nullable=False),
        sa.Column("engine", sa.String(length=8), nullable=False),
        sa.Column("objective", sa.String(length=32), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("classes", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("rung", sa.Integer(), nullable=False),
        sa.Column("rung_started_at", tinymlaas.db.base.UTCDateTime(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("recommended_id", sa.Integer(), nullable=True),
        sa.Column("message", sa.String(length=500), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_searches_owner_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_searches_dataset_id_datasets"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_searches_job_id_jobs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_searches")),
        mysql_charset="utf8mb4",
    )
    with op.batch_alter_table("searches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_searches_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_searches_job_id"), ["job_id"], unique=False)
    op.create_table(
        "search_candidates",
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("architecture", sa.String(length=32), nullable=False),
        sa.Column("alpha", sa.Float(), nullable=False),
        sa.Column("input_size", sa.Integer(), nullable=False),
        sa.Column("color_mode", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("ram_bytes", sa.BigInteger(), nullable=False),
        sa.Column("flash_bytes", sa.BigInteger(), nullable=False),
        sa.Column("macs", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("rung", sa.Integer(), nullable=False),
        sa.Column("epochs_trained", sa.Integer(), nullable=False),
        sa.Column("val_accuracy", sa.Float(), nullable=True),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("training_model_id", sa.Integer(), nullable=True),
        sa.Column("compiled_id", sa.Integer(), nullable=True),
        sa.Column("measured_ram_bytes", sa.BigInteger(), nullable=True),
        sa.Column("measured_flash_bytes", sa.BigInteger(), nullable=True),
        sa.Column("measured_latency_ms", sa.Float(), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["searches.id"],
            name=op.f("fk_search_candidates_search_id_searches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["trained_models.id"],
            name=op.f("fk_search_candidates_model_id_trained_models"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["training_model_id"],
            ["trained_models.id"],
            name=op.f("fk_search_candidates_training_model_id_trained_models"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["compiled_id"],
            ["compiled_models.id"],
            name=op.f("fk_search_candidates_compiled_id_compiled_models"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_candidates")),
        mysql_charset="utf8mb4",
    )
    with op.batch_alter_table("search_candidates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_search_candidates_search_id"), ["search_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("search_candidates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_search_candidates_search_id"))
    op.drop_table("search_candidates")
    with op.batch_alter_table("searches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_searches_job_id"))
        batch_op.drop_index(batch_op.f("ix_searches_owner_id"))
    op.drop_table("searches")
