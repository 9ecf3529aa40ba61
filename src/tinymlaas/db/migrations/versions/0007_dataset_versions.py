"""dataset versions: immutable snapshots of a dataset's rows; the version a model learnt from

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import tinymlaas.db.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _exact(length: int) -> sa.types.TypeEngine[str]:
    """ExactString: compared byte for byte on MariaDB too."""
    variant = mysql.VARCHAR(charset="utf8mb4", collation="utf8mb4_bin", length=length)
    return sa.String(length=length).with_variant(variant, "mariadb").with_variant(variant, "mysql")


def upgrade() -> None:
    op.create_table(
        "dataset_versions",
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=True),
        sa.Column("dataset_name", _exact(200), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("image_count", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("splits", sa.JSON(), nullable=False),
        sa.Column("folders", sa.JSON(), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tinymlaas.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_dataset_versions_dataset_id_datasets"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_dataset_versions_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_versions")),
        sa.UniqueConstraint(
            "dataset_id", "number", name=op.f("uq_dataset_versions_dataset_id_number")
        ),
        mysql_charset="utf8mb4",
    )
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dataset_versions_owner_id"), ["owner_id"], unique=False
        )

    op.create_table(
        "dataset_version_images",
        sa.Column("version_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("image_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("folder", _exact(512), nullable=False),
        sa.Column("name", _exact(200), nullable=False),
        sa.Column("label", _exact(200), nullable=True),
        sa.Column("split", sa.String(length=16), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sha256"], ["blobs.sha256"], name=op.f("fk_dataset_version_images_sha256_blobs")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_dataset_version_images_version_id_dataset_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", "image_id", name=op.f("pk_dataset_version_images")),
        mysql_charset="utf8mb4",
    )
    with op.batch_alter_table("dataset_version_images", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dataset_version_images_sha256"), ["sha256"], unique=False
        )

    with op.batch_alter_table("trained_models", schema=None) as batch_op:
        # Models trained before versions existed name none.
        batch_op.add_column(sa.Column("dataset_version_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("dataset_version", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_trained_models_dataset_version_id_dataset_versions"),
            "dataset_versions",
            ["dataset_version_id"],
            ["id"],
        )
        batch_op.create_index(
            batch_op.f("ix_trained_models_dataset_version_id"),
            ["dataset_version_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("trained_models", schema=None) as batch_op:
        # MariaDB keeps an index its foreign key needs: the key goes first.
        batch_op.drop_constraint(
            batch_op.f("fk_trained_models_dataset_version_id_dataset_versions"),
            type_="foreignkey",
        )
        batch_op.drop_index(batch_op.f("ix_trained_models_dataset_version_id"))
        batch_op.drop_column("dataset_version")
        batch_op.drop_column("dataset_version_id")
    # Dropping a table drops its indexes and foreign keys with it.
    op.drop_table("dataset_version_images")
    op.drop_table("dataset_versions")
