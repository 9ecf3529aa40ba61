from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tinymlaas.db.base import Base, ExactString, UTCDateTime

# `compiled_id` of predictions no known model made (0: the key has no NULL in it, so one
# upsert path matches on every engine).
NO_MODEL = 0


class ObservationHour(Base):
    """One device's predictions of one label in one hour, by the model that made them.

    Kept up to date as predictions are stored (one upsert per device, hour and label a batch),
    so history reads these rows, never the observations, and outlives their retention.
    """

    __tablename__ = "observation_hours"
    __table_args__ = (UniqueConstraint("device_id", "hour", "compiled_id", "label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("devices.id", ondelete="CASCADE"), nullable=False
    )
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # No foreign key: a deleted compiled model's history stays (under its old id).
    compiled_id: Mapped[int] = mapped_column(Integer, nullable=False, default=NO_MODEL)
    label: Mapped[str] = mapped_column(ExactString(200), nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    latency_sum_ms: Mapped[float] = mapped_column(Float, nullable=False)
    latency_max_ms: Mapped[float] = mapped_column(Float, nullable=False)
    top_score_sum: Mapped[float] = mapped_column(Float, nullable=False)
