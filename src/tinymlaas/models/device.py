from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tinymlaas.db.base import Base, ExactString, IdMixin, TimestampMixin, UTCDateTime


class Device(IdMixin, TimestampMixin, Base):
    """A board seen by a bridge, identified by its serial number (else its port)."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("bridge_id", "identity"),)

    owner_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    bridge_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("bridges.id", ondelete="CASCADE"), nullable=False
    )
    identity: Mapped[str] = mapped_column(ExactString(255), nullable=False)
    name: Mapped[str] = mapped_column(ExactString(200), nullable=False)
    board: Mapped[str | None] = mapped_column(String(32), nullable=True)
    port: Mapped[str] = mapped_column(String(255), nullable=False)
    serial_number: Mapped[str | None] = mapped_column(String(255), nullable=True)
    vid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    description: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    virtual: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    present: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    busy: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # What the device itself announced (HELLO): the running model's id, or "none".
    running_model_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    installed_compiled_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("compiled_models.id", ondelete="SET NULL"), nullable=True
    )
    installed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Predictions its bridge could not deliver (its buffer was full), as the bridge reported.
    dropped_predictions: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
