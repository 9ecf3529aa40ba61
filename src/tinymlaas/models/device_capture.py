from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from tinymlaas.db.base import Base, ExactString, IdMixin, TimestampMixin


class DeviceCapture(IdMixin, TimestampMixin, Base):
    """Camera frames taken from a board into a folder of a dataset; its job runs in the API
    process that holds the device's bridge, like an install."""

    __tablename__ = "device_captures"

    owner_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    device_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("devices.id", ondelete="CASCADE"), nullable=False, index=True
    )
    dataset_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False
    )
    job_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    folder: Mapped[str] = mapped_column(ExactString(512), nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    interval_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    # The images stored so far, in capture order.
    image_ids: Mapped[list[int]] = mapped_column(JSON, nullable=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
