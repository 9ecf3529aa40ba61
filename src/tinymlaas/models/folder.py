from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tinymlaas.db.base import Base, ExactString, IdMixin, TimestampMixin


class Folder(IdMixin, TimestampMixin, Base):
    """A folder of a dataset; every ancestor of an image's folder has a row, so empty ones stay."""

    __tablename__ = "folders"
    __table_args__ = (UniqueConstraint("dataset_id", "path"),)

    dataset_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False
    )
    path: Mapped[str] = mapped_column(ExactString(512), nullable=False)
