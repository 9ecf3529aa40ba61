"""A device's predictions over time, read from the hourly aggregates (never the observations)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.orm import Session

from tinymlaas.db.base import utcnow
from tinymlaas.devices import observation_repository
from tinymlaas.devices.schemas import DeviceHistory, HourRead
from tinymlaas.models import Device, ObservationHour
from tinymlaas.models.observation_hour import NO_MODEL

MAX_HOURS = 24 * 366


def device_history(session: Session, device: Device, hours: int) -> DeviceHistory:
    """The last `hours` hours (the current one included) with predictions, and the total."""
    since = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    rows = observation_repository.hours_since(session, device.id, since)
    return DeviceHistory(
        device_id=device.id,
        hours=fold_hours(rows),
        total=observation_repository.total_observed(session, device.id),
    )


def fold_hours(rows: Sequence[ObservationHour]) -> list[HourRead]:
    """Rows of (hour, model, label), ordered by hour, as one entry per hour."""
    hours: list[HourRead] = []
    group: list[ObservationHour] = []
    for row in rows:
        if group and group[0].hour != row.hour:
            hours.append(_hour(group))
            group = []
        group.append(row)
    if group:
        hours.append(_hour(group))
    return hours


def _hour(group: list[ObservationHour]) -> HourRead:
    count = sum(row.count for row in group)
    labels: dict[str, int] = {}
    for row in group:
        labels[row.label] = labels.get(row.label, 0) + row.count
    models = sorted({row.compiled_id for row in group})
    return HourRead(
        hour=group[0].hour,
        count=count,
        labels=labels,
        mean_latency_ms=round(sum(row.latency_sum_ms for row in group) / count, 3),
        max_latency_ms=max(row.latency_max_ms for row in group),
        mean_top_score=round(sum(row.top_score_sum for row in group) / count, 4),
        compiled_ids=[None if model == NO_MODEL else model for model in models],
    )
