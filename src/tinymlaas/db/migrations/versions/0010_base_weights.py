"""base weights: users' uploaded Keras base models that training can start from

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import tinymlaas.db.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    exact = mysql.VARCHAR(charset="utf8mb4", collation="utf8mb4_bin", length=200)
    op.create_table(
        "base_weights",
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column(
            "name",
            sa.String(length=200).with_variant(exact, "mariadb").with_variant(exact, "mysql"),
            nullable=False,
        ),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("architecture", sa.String(length=32), nullable=False),
        sa.Column("alpha", sa.Float(), nullable=False),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("layer_count", sa.Integer(), nullable=False),
        sa.Column("parameter_count", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_base_weights_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sha256"], ["blobs.sha256"], name=op.f("fk_base_weights_sha256_blobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_base_weights")),
        sa.UniqueConstraint("owner_id", "name", name=op.f("uq_base_weights_owner_id_name")),
        mysql_charset="utf8mb4",
    )
    with op.batch_alter_table("base_weights", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_base_weights_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_base_weights_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("base_weights", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_base_weights_sha256"))
        batch_op.drop_index(batch_op.f("ix_base_weights_owner_id"))
    op.drop_table("base_weights")
