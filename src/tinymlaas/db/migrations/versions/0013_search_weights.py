"""search candidates: the starting weights each trains from, and a device to install on once
its compile ends

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("search_candidates", schema=None) as batch_op:
        # Candidates of earlier searches all trained from random weights.
        batch_op.add_column(
            sa.Column("weights", sa.String(length=16), nullable=False, server_default="none")
        )
        batch_op.add_column(sa.Column("deploy_device_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_search_candidates_deploy_device_id_devices"),
            "devices",
            ["deploy_device_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("search_candidates", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_search_candidates_deploy_device_id_devices"), type_="foreignkey"
        )
        batch_op.drop_column("deploy_device_id")
        batch_op.drop_column("weights")
