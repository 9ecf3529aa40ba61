"""The queries of observations at fleet rate: batched ingestion, hourly aggregates, retention."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from tinymlaas.db.upsert import upsert_adding
from tinymlaas.models import CaptureRule, CompiledFile, Device, Observation, ObservationHour

HOUR_KEY = ("device_id", "hour", "compiled_id", "label")


def devices_on_ports(session: Session, bridge_id: int, ports: Collection[str]) -> dict[str, Device]:
    """The bridge's plugged-in devices on these ports, by port."""
    rows = session.scalars(
        select(Device).where(
            Device.bridge_id == bridge_id, Device.port.in_(ports), Device.present.is_(True)
        )
    )
    return {device.port: device for device in rows}


def touch_devices(session: Session, device_ids: list[int], now: datetime) -> None:
    """Mark the devices seen now, in one statement."""
    session.execute(
        update(Device)
        .where(Device.id.in_(device_ids))
        .values(last_seen=now)
        .execution_options(synchronize_session=False)
    )


def manifest_sha256s(session: Session, compiled_ids: Collection[int]) -> dict[int, str]:
    """The sha256 of each compiled model's manifest.json (a board announces it as its model)."""
    if not compiled_ids:
        return {}
    rows = session.execute(
        select(CompiledFile.compiled_id, CompiledFile.sha256).where(
            CompiledFile.compiled_id.in_(compiled_ids), CompiledFile.name == "manifest.json"
        )
    )
    return {compiled_id: sha256 for compiled_id, sha256 in rows}


def devices_with_enabled_rule(session: Session, device_ids: Collection[int]) -> set[int]:
    """Those of the devices whose capture rule is on (their predictions may be reviewed)."""
    if not device_ids:
        return set()
    return set(
        session.scalars(
            select(CaptureRule.device_id).where(
                CaptureRule.device_id.in_(device_ids), CaptureRule.enabled.is_(True)
            )
        )
    )


def insert_observations(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Many observations in one statement (executemany with multi-row VALUES)."""
    if rows:
        session.execute(insert(Observation), list(rows))


def add_to_hours(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Add hourly totals to `observation_hours`, creating the hours not there yet.

    Counts and sums add; the maximum latency is the larger of the two.
    """
    upsert_adding(session, ObservationHour, HOUR_KEY, _added, rows)


def _added(new: Any, larger: Any) -> dict[str, Any]:
    table = ObservationHour.__table__.c
    return {
        "count": table.count + new["count"],
        "latency_sum_ms": table.latency_sum_ms + new.latency_sum_ms,
        "latency_max_ms": larger(table.latency_max_ms, new.latency_max_ms),
        "top_score_sum": table.top_score_sum + new.top_score_sum,
    }


def hours_since(session: Session, device_id: int, since: datetime) -> list[ObservationHour]:
    """The device's hourly rows from `since` on, oldest first."""
    return list(
        session.scalars(
            select(ObservationHour)
            .where(ObservationHour.device_id == device_id, ObservationHour.hour >= since)
            .order_by(ObservationHour.hour, ObservationHour.compiled_id, ObservationHour.label)
        )
    )


def latest(session: Session, device_id: int, limit: int) -> list[Observation]:
    """The device's latest observations, oldest first."""
    rows = session.scalars(
        select(Observation)
        .where(Observation.device_id == device_id)
        .order_by(Observation.id.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))


def total_observed(session: Session, device_id: int) -> int:
    """How many predictions the device ever sent (kept or deleted by retention)."""
    query = select(func.sum(ObservationHour.count)).where(ObservationHour.device_id == device_id)
    return int(session.scalar(query) or 0)


def delete_older_than(session: Session, cutoff: datetime, limit: int) -> int:
    """Delete at most `limit` observations older than `cutoff`, oldest first; how many."""
    ids = list(
        session.scalars(
            select(Observation.id)
            .where(Observation.ts < cutoff)
            .order_by(Observation.ts)
            .limit(limit)
        )
    )
    if ids:
        session.execute(
            delete(Observation)
            .where(Observation.id.in_(ids))
            .execution_options(synchronize_session=False)
        )
    return len(ids)
