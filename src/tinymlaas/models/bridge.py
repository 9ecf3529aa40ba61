from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tinymlaas.db.base import Base, ExactString, IdMixin, TimestampMixin, UTCDateTime


class Bridge(IdMixin, TimestampMixin, Base):
    """A machine boards are plugged into; it connects out to the server with its token."""

    __tablename__ = "bridges"

    owner_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(ExactString(200), nullable=False)
    # sha256 of the token: a bearer secret of 256 random bits needs no slow hash.
    token_sha256: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    connected: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    hostname: Mapped[str | None] = mapped_column(String(255), nullable=True)
    version: Mapped[str | None] = mapped_column(String(50), nullable=True)
