"""Predictions stored in batches: one transaction for what a bridge connection sent meanwhile.

Per batch the devices of the ports it names are looked up once, and so is whether each runs
its installed model; the observations go in with one multi-row insert, and their hourly
aggregates (`observation_hours`) with one upsert. Flushes; the caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from tinymlaas.db.base import utcnow
from tinymlaas.devices import messages
from tinymlaas.devices import observation_repository as repository
from tinymlaas.models import Device
from tinymlaas.models.observation_hour import NO_MODEL


@dataclass(frozen=True)
class Received:
    """A prediction as one bridge connection received it."""

    message: messages.Prediction
    received_at: datetime

    @property
    def ts(self) -> datetime:
        """When the board made it: the bridge's time (in UTC, so that hours are UTC hours),
        unless it is ahead of the server's."""
        at = self.message.at
        if at is None or at.tzinfo is None or at > self.received_at:
            return self.received_at
        return at.astimezone(UTC)


@dataclass
class Stored:
    """What a batch became: rows stored, and the ports whose device has a capture rule on."""

    count: int = 0
    review_ports: set[str] = field(default_factory=set)


def store_predictions(session: Session, bridge_id: int, batch: Sequence[Received]) -> Stored:
    """Store a batch of one bridge's predictions, in the order received; unknown ports skipped."""
    devices = repository.devices_on_ports(session, bridge_id, {r.message.port for r in batch})
    if not devices:
        return Stored()
    running = _running_compiled(session, devices.values())
    rows = [_row(devices[r.message.port], running, r) for r in batch if r.message.port in devices]
    repository.insert_observations(session, rows)
    repository.add_to_hours(session, hourly_totals(rows))
    repository.touch_devices(session, [device.id for device in devices.values()], utcnow())
    with_rule = repository.devices_with_enabled_rule(session, {d.id for d in devices.values()})
    return Stored(len(rows), {port for port, d in devices.items() if d.id in with_rule})


def _running_compiled(session: Session, devices: Any) -> dict[int, int | None]:
    """Device id → its installed compiled model if the board announced running it, else None."""
    installed = {d.installed_compiled_id for d in devices if d.installed_compiled_id is not None}
    manifests = repository.manifest_sha256s(session, installed)
    return {
        device.id: device.installed_compiled_id
        if device.installed_compiled_id is not None
        and manifests.get(device.installed_compiled_id) == device.running_model_id
        else None
        for device in devices
    }


def _row(device: Device, running: dict[int, int | None], received: Received) -> dict[str, Any]:
    message = received.message
    return {
        "device_id": device.id,
        "compiled_id": running[device.id],
        "ts": received.ts,
        "seq": message.seq,
        "label": message.label[:200],
        "scores": dict(message.scores),
        "latency_ms": message.latency_ms,
        "source": message.source[:500] if message.source else None,
    }


def hourly_totals(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Observation rows folded into `observation_hours` rows (device, hour, model, label)."""
    totals: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        hour = row["ts"].replace(minute=0, second=0, microsecond=0)
        key = (row["device_id"], hour, row["compiled_id"] or NO_MODEL, row["label"])
        latency = float(row["latency_ms"] or 0.0)
        top = max(row["scores"].values(), default=0.0)
        total = totals.get(key)
        if total is None:
            totals[key] = {
                "device_id": key[0],
                "hour": hour,
                "compiled_id": key[2],
                "label": key[3],
                "count": 1,
                "latency_sum_ms": latency,
                "latency_max_ms": latency,
                "top_score_sum": float(top),
            }
            continue
        total["count"] += 1
        total["latency_sum_ms"] += latency
        total["latency_max_ms"] = max(total["latency_max_ms"], latency)
        total["top_score_sum"] += float(top)
    return list(totals.values())
