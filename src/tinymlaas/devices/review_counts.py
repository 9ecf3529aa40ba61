"""Per device and UTC hour: frames its capture rule kept for review, and why it kept no others.

The hourly cap reads these counts, which review decisions never change. `now` is the one clock
they are read and written by, a module-level function so tests move time on instead of
waiting an hour. Flushes; the caller commits.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tinymlaas.db.upsert import upsert_adding
from tinymlaas.devices.capture_schemas import FrameCounts, ReviewCaptureCounts
from tinymlaas.models import ReviewCaptureHour

Outcome = Literal["kept", "dropped_hourly_cap", "dropped_queue_full", "rejected"]
OUTCOMES: tuple[Outcome, ...] = ("kept", "dropped_hourly_cap", "dropped_queue_full", "rejected")
KEY = ("device_id", "hour")
NOTHING = FrameCounts(kept=0, dropped_hourly_cap=0, dropped_queue_full=0, rejected=0)


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def count(session: Session, device_id: int, moment: datetime, outcome: Outcome) -> None:
    """One more frame of the device with this outcome, in the hour of `moment`."""
    row: dict[str, Any] = {"device_id": device_id, "hour": hour_of(moment)}
    row.update({name: int(name == outcome) for name in OUTCOMES})
    upsert_adding(session, ReviewCaptureHour, KEY, _added, [row])


def _added(new: Any, larger: Any) -> dict[str, Any]:
    table = ReviewCaptureHour.__table__.c
    return {name: table[name] + new[name] for name in OUTCOMES}


def kept_in_hour(session: Session, device_id: int, moment: datetime) -> int:
    """Frames the device kept in the hour of `moment`, whatever review did with them since."""
    query = select(ReviewCaptureHour.kept).where(
        ReviewCaptureHour.device_id == device_id, ReviewCaptureHour.hour == hour_of(moment)
    )
    return int(session.scalar(query) or 0)


def summaries(
    session: Session, device_ids: Collection[int], moment: datetime
) -> dict[int, ReviewCaptureCounts]:
    """Each device's counts in the hour of `moment` and in total (zeros for a device without)."""
    hour = hour_of(moment)
    columns = [getattr(ReviewCaptureHour, name) for name in OUTCOMES]
    this_hour: dict[int, FrameCounts] = {}
    totals: dict[int, FrameCounts] = {}
    if device_ids:
        current = select(ReviewCaptureHour.device_id, *columns).where(
            ReviewCaptureHour.device_id.in_(device_ids), ReviewCaptureHour.hour == hour
        )
        this_hour = {row[0]: _counts(row[1:]) for row in session.execute(current)}
        summed = (
            select(ReviewCaptureHour.device_id, *(func.sum(column) for column in columns))
            .where(ReviewCaptureHour.device_id.in_(device_ids))
            .group_by(ReviewCaptureHour.device_id)
        )
        totals = {row[0]: _counts(row[1:]) for row in session.execute(summed)}
    return {
        device_id: ReviewCaptureCounts(
            hour=hour,
            this_hour=this_hour.get(device_id, NOTHING),
            total=totals.get(device_id, NOTHING),
        )
        for device_id in device_ids
    }


def _counts(values: Any) -> FrameCounts:
    return FrameCounts(
        **{name: int(value or 0) for name, value in zip(OUTCOMES, values, strict=True)}
    )
