"""compiled models: the engine, the C engine's activation plan and its measurement

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("compiled_models", schema=None) as batch_op:
        # Existing rows were all compiled for TFLite-Micro.
        batch_op.add_column(
            sa.Column("engine", sa.String(length=8), nullable=False, server_default="tflm")
        )
        batch_op.add_column(sa.Column("activation", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("measured", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("compiled_models", schema=None) as batch_op:
        batch_op.drop_column("measured")
        batch_op.drop_column("activation")
        batch_op.drop_column("engine")
