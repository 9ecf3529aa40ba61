from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from tinymlaas.db.base import Base, IdMixin, TimestampMixin


class Installation(IdMixin, TimestampMixin, Base):
    """A request to put a compiled model on a device; its job carries the installer's output."""

    __tablename__ = "installations"

    owner_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    device_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("devices.id", ondelete="CASCADE"), nullable=False, index=True
    )
    compiled_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("compiled_models.id", ondelete="CASCADE"), nullable=False
    )
    job_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    output: Mapped[str] = mapped_column(Text, nullable=False, default="")
