"""Every query of the devices domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tinymlaas.db.pagination import paginate
from tinymlaas.enums import JobStatus
from tinymlaas.models import (
    Bridge,
    Device,
    DeviceCapture,
    DeviceTest,
    Installation,
    Job,
    Observation,
)


def get_bridge(session: Session, owner_id: int, bridge_id: int) -> Bridge | None:
    return session.scalar(select(Bridge).where(Bridge.id == bridge_id, Bridge.owner_id == owner_id))


def bridge_by_token(session: Session, token_sha256: str) -> Bridge | None:
    return session.scalar(select(Bridge).where(Bridge.token_sha256 == token_sha256))


def list_bridges(session: Session, owner_id: int) -> list[Bridge]:
    return list(
        session.scalars(select(Bridge).where(Bridge.owner_id == owner_id).order_by(Bridge.id))
    )


def bridges_by_id(session: Session, bridge_ids: set[int]) -> dict[int, Bridge]:
    rows = session.scalars(select(Bridge).where(Bridge.id.in_(bridge_ids)))
    return {bridge.id: bridge for bridge in rows}


def get_device(session: Session, owner_id: int, device_id: int) -> Device | None:
    return session.scalar(select(Device).where(Device.id == device_id, Device.owner_id == owner_id))


def list_devices(session: Session, owner_id: int, bridge_id: int | None = None) -> list[Device]:
    query = select(Device).where(Device.owner_id == owner_id)
    if bridge_id is not None:
        query = query.where(Device.bridge_id == bridge_id)
    return list(session.scalars(query.order_by(Device.id)))


def bridge_devices(session: Session, bridge_id: int) -> list[Device]:
    return list(session.scalars(select(Device).where(Device.bridge_id == bridge_id)))


def device_on_port(session: Session, bridge_id: int, port: str) -> Device | None:
    return session.scalar(
        select(Device).where(
            Device.bridge_id == bridge_id, Device.port == port, Device.present.is_(True)
        )
    )


def mark_bridge_gone(session: Session, bridge_id: int) -> None:
    session.execute(
        update(Bridge)
        .where(Bridge.id == bridge_id)
        .values(connected=False)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Device)
        .where(Device.bridge_id == bridge_id)
        .values(present=False, busy=False)
        .execution_options(synchronize_session=False)
    )


def observations(
    session: Session, device_id: int, since: datetime | None, after_id: int, limit: int
) -> tuple[list[Observation], int]:
    conditions = [Observation.device_id == device_id, Observation.id > after_id]
    if since is not None:
        conditions.append(Observation.ts >= since)
    query = select(Observation).where(*conditions).order_by(Observation.id.desc())
    rows, total = paginate(session, query, 0, limit)
    return list(reversed(rows)), total


def observations_after(session: Session, device_id: int, after_id: int) -> list[Observation]:
    return list(
        session.scalars(
            select(Observation)
            .where(Observation.device_id == device_id, Observation.id > after_id)
            .order_by(Observation.id)
            .limit(500)
        )
    )


def last_observation_id(session: Session, device_id: int) -> int:
    return (
        session.scalar(select(func.max(Observation.id)).where(Observation.device_id == device_id))
        or 0
    )


def devices_installing(session: Session, bridge_id: int) -> set[int]:
    """The bridge's devices with an install running now."""
    return set(
        session.scalars(
            select(Installation.device_id)
            .join(Device, Device.id == Installation.device_id)
            .join(Job, Job.id == Installation.job_id)
            .where(Device.bridge_id == bridge_id, Job.status == JobStatus.running)
        )
    )


def devices_with_port_work(session: Session, bridge_id: int) -> dict[int, str]:
    """The bridge's devices whose port a device test or a capture holds now, with which."""
    held: dict[int, str] = {}
    tests = session.execute(
        select(DeviceTest.device_id, DeviceTest.job_id)
        .join(Device, Device.id == DeviceTest.device_id)
        .where(Device.bridge_id == bridge_id, DeviceTest.stage == "sent")
    )
    for device_id, job_id in tests:
        held[device_id] = f"a device test (job {job_id})"
    captures = session.execute(
        select(DeviceCapture.device_id, DeviceCapture.job_id)
        .join(Device, Device.id == DeviceCapture.device_id)
        .join(Job, Job.id == DeviceCapture.job_id)
        .where(Device.bridge_id == bridge_id, Job.status == JobStatus.running)
    )
    for device_id, job_id in captures:
        held[device_id] = f"a capture (job {job_id})"
    return held


def queued_installs(session: Session, bridge_id: int) -> list[tuple[Installation, Device]]:
    """The bridge's queued installs, oldest first."""
    rows = session.execute(
        select(Installation, Device)
        .join(Device, Device.id == Installation.device_id)
        .join(Job, Job.id == Installation.job_id)
        .where(Device.bridge_id == bridge_id, Job.status == JobStatus.queued)
        .order_by(Installation.id)
    )
    return [(installation, device) for installation, device in rows]


def cancel_requested_jobs(session: Session, job_ids: set[int]) -> list[int]:
    """The running jobs among `job_ids` that someone asked to cancel."""
    if not job_ids:
        return []
    return list(
        session.scalars(
            select(Job.id)
            .where(
                Job.id.in_(job_ids), Job.status == JobStatus.running, Job.cancel_requested.is_(True)
            )
            .order_by(Job.id)
        )
    )


def set_running_job_message(session: Session, job_id: int, message: str) -> bool:
    """Set a job's message if it is still running; whether it was."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.running)
        .values(message=message)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def installation_by_job(session: Session, job_id: int) -> Installation | None:
    return session.scalar(select(Installation).where(Installation.job_id == job_id))


def latest_installation(session: Session, device_id: int) -> Installation | None:
    return session.scalar(
        select(Installation)
        .where(Installation.device_id == device_id)
        .order_by(Installation.id.desc())
        .limit(1)
    )


def bridge_job(session: Session, bridge_id: int, job_id: int) -> tuple[Job, str | None] | None:
    """A job sent to a device of this bridge (an install, a device test or a capture) with the
    device test's stage (None for the others); None when no such job went to this bridge."""
    for table in (Installation, DeviceTest, DeviceCapture):
        row = session.execute(
            select(Job, table)
            .join(table, table.job_id == Job.id)
            .join(Device, Device.id == table.device_id)
            .where(Job.id == job_id, Device.bridge_id == bridge_id)
        ).first()
        if row is not None:
            job, work = row
            return job, work.stage if isinstance(work, DeviceTest) else None
    return None
