"""imported models: source, imported file facts, the .tflite blob

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trained_models", schema=None) as batch_op:
        # Existing rows were all trained here.
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), nullable=False, server_default="trained")
        )
        batch_op.add_column(sa.Column("imported", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("tflite_sha256", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_trained_models_tflite_sha256_blobs"),
            "blobs",
            ["tflite_sha256"],
            ["sha256"],
        )
        batch_op.create_index(
            batch_op.f("ix_trained_models_tflite_sha256"), ["tflite_sha256"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("trained_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trained_models_tflite_sha256"))
        batch_op.drop_constraint(
            batch_op.f("fk_trained_models_tflite_sha256_blobs"), type_="foreignkey"
        )
        batch_op.drop_column("tflite_sha256")
        batch_op.drop_column("imported")
        batch_op.drop_column("source")
