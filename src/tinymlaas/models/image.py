from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tinymlaas.db.base import Base, ExactString, IdMixin, TimestampMixin


class Image(IdMixin, TimestampMixin, Base):
    """An image of a dataset; `label` and `split` follow from `folder` (see datasets.paths)."""

    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("dataset_id", "folder", "name"),
        Index("ix_images_dataset_id_label", "dataset_id", "label"),
        Index("ix_images_dataset_id_split", "dataset_id", "split"),
    )

    dataset_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False
    )
    folder: Mapped[str] = mapped_column(ExactString(512), nullable=False)
    name: Mapped[str] = mapped_column(ExactString(200), nullable=False)
    label: Mapped[str | None] = mapped_column(ExactString(200), nullable=True)
    split: Mapped[str | None] = mapped_column(String(16), nullable=True)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    format: Mapped[str] = mapped_column(String(8), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(
        String(64), ForeignKey("blobs.sha256"), nullable=False, index=True
    )
    thumbnail_sha256: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("blobs.sha256"), nullable=True, index=True
    )

    @property
    def path(self) -> str:
        return f"{self.folder}/{self.name}" if self.folder else self.name
