from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tinymlaas.db.base import Base, UTCDateTime


class ReviewCaptureHour(Base):
    """What one device's capture rule did with its doubtful predictions in one UTC hour.

    Added to as frames are kept (in the transaction that queues the frame) or dropped, and
    never changed by review decisions: the hourly cap reads `kept` of the current hour, so
    filing or discarding frames does not make room for more.
    """

    __tablename__ = "review_capture_hours"
    __table_args__ = (UniqueConstraint("device_id", "hour"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("devices.id", ondelete="CASCADE"), nullable=False
    )
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # Frames queued for review.
    kept: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Doubtful predictions whose frame was not kept: the device's hourly cap was reached, or the
    # dataset's queue held its total cap.
    dropped_hourly_cap: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    dropped_queue_full: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Frames the bridge sent that failed the checks (not base64, too large, not an image).
    rejected: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
