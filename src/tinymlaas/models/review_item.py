from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tinymlaas.db.base import Base, ExactString, IdMixin, TimestampMixin


class ReviewItem(IdMixin, TimestampMixin, Base):
    """A frame a device kept for review: it waits in its dataset's queue until a person accepts
    it into the predicted label's folder, relabels it into another, or discards it."""

    __tablename__ = "review_items"
    __table_args__ = (
        Index("ix_review_items_dataset_id_uncertainty", "dataset_id", "uncertainty"),
        Index("ix_review_items_device_id_created_at", "device_id", "created_at"),
    )

    dataset_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False
    )
    device_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("devices.id", ondelete="SET NULL"), nullable=True
    )
    compiled_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("compiled_models.id", ondelete="SET NULL"), nullable=True
    )
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    label: Mapped[str] = mapped_column(ExactString(200), nullable=False)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    # 1 − top score: the most doubtful frames are reviewed first.
    uncertainty: Mapped[float] = mapped_column(Float, nullable=False)
    reason: Mapped[str] = mapped_column(String(16), nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    format: Mapped[str] = mapped_column(String(8), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(
        String(64), ForeignKey("blobs.sha256"), nullable=False, index=True
    )
