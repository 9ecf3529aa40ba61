"""The queries of device tests."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tinymlaas.enums import ACTIVE_STATUSES, JobStatus
from tinymlaas.models import Device, DeviceTest, Job


def get_owned(session: Session, owner_id: int, test_id: int) -> DeviceTest | None:
    return session.scalar(
        select(DeviceTest).where(DeviceTest.id == test_id, DeviceTest.owner_id == owner_id)
    )


def get_by_job(session: Session, job_id: int) -> DeviceTest | None:
    return session.scalar(select(DeviceTest).where(DeviceTest.job_id == job_id))


def list_owned(
    session: Session, owner_id: int, compiled_id: int | None, device_id: int | None
) -> list[tuple[DeviceTest, Job]]:
    """The user's device tests, newest first, with their jobs."""
    query = (
        select(DeviceTest, Job)
        .join(Job, Job.id == DeviceTest.job_id)
        .where(DeviceTest.owner_id == owner_id)
        .order_by(DeviceTest.id.desc())
    )
    if compiled_id is not None:
        query = query.where(DeviceTest.compiled_id == compiled_id)
    if device_id is not None:
        query = query.where(DeviceTest.device_id == device_id)
    return [(test, job) for test, job in session.execute(query)]


def jobs_of(session: Session, tests: Sequence[DeviceTest]) -> dict[int, Job]:
    ids = [test.job_id for test in tests]
    return {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(ids)))}


def active_on_device(session: Session, device_id: int) -> DeviceTest | None:
    return session.scalar(
        select(DeviceTest)
        .join(Job, Job.id == DeviceTest.job_id)
        .where(DeviceTest.device_id == device_id, Job.status.in_(ACTIVE_STATUSES))
        .limit(1)
    )


def ready_for_bridge(session: Session, bridge_id: int) -> list[tuple[DeviceTest, Device]]:
    """Prepared tests of the bridge's present devices whose job still waits, oldest first."""
    rows = session.execute(
        select(DeviceTest, Device)
        .join(Device, Device.id == DeviceTest.device_id)
        .join(Job, Job.id == DeviceTest.job_id)
        .where(
            Device.bridge_id == bridge_id,
            Device.present.is_(True),
            DeviceTest.stage == "ready",
            Job.status == JobStatus.running,  # not one cancelled or failed meanwhile
        )
        .order_by(DeviceTest.id)
    )
    return [(test, device) for test, device in rows]


def move_stage(session: Session, test_id: int, old: str, new: str) -> bool:
    """Move a test from one stage to the next, unless another process already did."""
    result = session.execute(
        update(DeviceTest)
        .where(DeviceTest.id == test_id, DeviceTest.stage == old)
        .values(stage=new)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def sent_by_bridge(session: Session, bridge_id: int) -> list[DeviceTest]:
    return list(
        session.scalars(
            select(DeviceTest)
            .join(Device, Device.id == DeviceTest.device_id)
            .where(Device.bridge_id == bridge_id, DeviceTest.stage == "sent")
        )
    )
