from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from tinymlaas.db.base import Base, IdMixin, TimestampMixin


class CaptureRule(IdMixin, TimestampMixin, Base):
    """Which of a device's predictions send their frame to a dataset's review queue."""

    __tablename__ = "capture_rules"

    device_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("devices.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    dataset_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # Keep a frame whose top score is below this, or whose top two are within `margin`.
    below_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    margin: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Also keep about this many frames an hour at random, whatever their scores.
    sample_per_hour: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_per_hour: Mapped[int] = mapped_column(Integer, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
