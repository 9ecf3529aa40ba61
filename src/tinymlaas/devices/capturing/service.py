"""Rules of captures: which dataset folder, which board. Flushes; the caller commits."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinymlaas.datasets import service as datasets
from tinymlaas.devices import repository as devices_repository
from tinymlaas.devices import service as devices
from tinymlaas.devices.capturing.schemas import CaptureRead, CaptureRequest
from tinymlaas.enums import ACTIVE_STATUSES, JobKind, JobStatus
from tinymlaas.errors import BadRequest, Conflict, NotFound
from tinymlaas.jobs import service as jobs
from tinymlaas.models import Device, DeviceCapture, Job, User


def request_capture(
    session: Session, owner: User, device: Device, request: CaptureRequest
) -> DeviceCapture:
    """Check the dataset, the folder and the board, then queue the capture for its bridge."""
    dataset = datasets.get_dataset(session, owner, request.dataset_id)
    folder = datasets.folder_or_error(request.folder)
    if not folder:
        raise BadRequest("give the folder the frames go into (it names their label)")
    bridge = devices_repository.bridges_by_id(session, {device.bridge_id}).get(device.bridge_id)
    if devices.device_status(device, bridge) == "offline":
        raise Conflict(f"device {device.id} is offline: start its bridge or plug it in")
    active = session.scalar(
        select(DeviceCapture.id)
        .join(Job, Job.id == DeviceCapture.job_id)
        .where(DeviceCapture.device_id == device.id, Job.status.in_(ACTIVE_STATUSES))
    )
    if active is not None:
        raise Conflict(f"device {device.id} is already capturing: wait for capture {active}")
    job = jobs.create_job(session, owner, JobKind.capture)
    job.message = "waiting for the device's bridge"
    capture = DeviceCapture(
        owner_id=owner.id,
        device_id=device.id,
        dataset_id=dataset.id,
        job_id=job.id,
        folder=folder,
        count=request.count,
        interval_ms=request.interval_ms,
        image_ids=[],
    )
    session.add(capture)
    session.flush()
    return capture


def get_capture(session: Session, owner: User, capture_id: int) -> DeviceCapture:
    capture = session.scalar(
        select(DeviceCapture).where(
            DeviceCapture.id == capture_id, DeviceCapture.owner_id == owner.id
        )
    )
    if capture is None:
        raise NotFound(f"capture {capture_id} not found")
    return capture


def latest_capture(session: Session, device_id: int) -> DeviceCapture | None:
    return session.scalar(
        select(DeviceCapture)
        .where(DeviceCapture.device_id == device_id)
        .order_by(DeviceCapture.id.desc())
        .limit(1)
    )


def describe(session: Session, capture: DeviceCapture) -> CaptureRead:
    job = session.get_one(Job, capture.job_id)
    return CaptureRead(
        id=capture.id,
        job_id=capture.job_id,
        device_id=capture.device_id,
        dataset_id=capture.dataset_id,
        folder=capture.folder,
        count=capture.count,
        interval_ms=capture.interval_ms,
        status=JobStatus(job.status),
        image_ids=list(capture.image_ids),
        error=capture.error or job.error,
        created_at=capture.created_at,
    )
