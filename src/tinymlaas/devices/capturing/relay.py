"""The API process's part of a capture: the request to the bridge, frames into the dataset.

Called by the hub (`devices/hub.py`) for the bridge it holds. A capture job is claimed here,
like an install, and finished by the bridge's `capture_result`. Each frame is stored as it
comes, through the datasets' own upload rules (`datasets.service.add_images`), as a PNG that
names the device, board and time in its metadata (PNG text chunks).
"""

from __future__ import annotations

import base64
import binascii
import io
import logging

from PIL import Image, PngImagePlugin
from sqlalchemy import select
from sqlalchemy.orm import Session

from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.config import Settings
from tinymlaas.datasets import service as datasets
from tinymlaas.datasets.ingest import Upload
from tinymlaas.db.session import lock_for_writing
from tinymlaas.devices import messages
from tinymlaas.devices import repository as devices_repository
from tinymlaas.enums import JobStatus
from tinymlaas.errors import TinyMLaaSError
from tinymlaas.jobs import repository as jobs_repository
from tinymlaas.jobs import service as jobs
from tinymlaas.models import Dataset, Device, DeviceCapture, Job
from tinymlaas.models import Image as ImageRow

log = logging.getLogger(__name__)


def outgoing_captures(
    session: Session, bridge_id: int, features: frozenset[str] | None, version: str, worker: str
) -> tuple[list[messages.Message], list[int]]:
    """Claim the queued captures of the bridge's present devices: their messages and job ids."""
    if features is None:  # before the bridge's hello
        return [], []
    rows = session.execute(
        select(DeviceCapture, Device)
        .join(Device, Device.id == DeviceCapture.device_id)
        .join(Job, Job.id == DeviceCapture.job_id)
        .where(Device.bridge_id == bridge_id, Device.present.is_(True))
        .where(Job.status == JobStatus.queued)
        .order_by(DeviceCapture.id)
    ).all()
    outgoing: list[messages.Message] = []
    claimed: list[int] = []
    installing = devices_repository.devices_installing(session, bridge_id)
    for capture, device in rows:
        if device.id in installing:
            continue  # the installer has the port; the capture waits for it
        if not jobs_repository.claim(session, capture.job_id, worker):
            continue
        job = session.get_one(Job, capture.job_id)
        if messages.CAPTURE not in features:
            shown = f" (version {version})" if version else ""
            error = f"this bridge{shown} cannot capture camera frames: update it"
            jobs.finish(session, job, JobStatus.failed, message="failed", error=error)
            continue
        device.busy = True  # the port belongs to the capture until its result
        job.message = f"capturing {capture.count} frames from {device.name}"[:500]
        jobs_repository.add_event(
            session, job.id, "state", {"status": JobStatus.running, "message": job.message}
        )
        outgoing.append(
            messages.Capture(
                job_id=job.id,
                port=device.port,
                count=capture.count,
                interval_ms=capture.interval_ms,
            )
        )
        claimed.append(job.id)
    session.flush()
    return outgoing, claimed


def _running(session: Session, job_id: int) -> tuple[DeviceCapture, Job] | None:
    capture = session.scalar(select(DeviceCapture).where(DeviceCapture.job_id == job_id))
    job = session.get(Job, job_id)
    if capture is None or job is None or job.status != JobStatus.running:
        return None
    return capture, job


class FrameRejected(ValueError):
    """A capture frame that is not a PNG of its announced size within the limits."""


def frame_png(text: str, max_bytes: int) -> bytes:
    """A bridge's base64 PNG as bytes, once their size is within `max_bytes` (nothing decoded
    as an image yet): capture frames and review frames alike."""
    over = f"the PNG is over {max_bytes:,} bytes"
    # base64 is 4/3 of the bytes: anything longer is over the limit before decoding.
    if len(text) > (max_bytes + 2) // 3 * 4:
        raise FrameRejected(over)
    try:
        png = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise FrameRejected("the PNG is not base64") from error
    if len(png) > max_bytes:
        raise FrameRejected(over)
    return png


def tagged_png(
    png: bytes, device: Device, captured: str, size: tuple[int, int], max_pixels: int
) -> bytes:
    """The frame as a PNG whose text chunks name the device, its board and the time.

    Its header is read first: a PNG of another size than `size` (the announced one) or over
    `max_pixels` is refused before a pixel is decoded, as is anything Pillow cannot read.
    """
    info = PngImagePlugin.PngInfo()
    for key, value in (
        ("Device", f"{device.name} (id {device.id}, serial {device.serial_number or '-'})"),
        ("Board", device.board or "unknown"),
        ("Captured", captured),
        ("Software", "TinyMLaaS capture"),
    ):
        info.add_text(key, value)
    try:
        image = Image.open(io.BytesIO(png), formats=["PNG"])
    except Image.DecompressionBombError as error:
        raise FrameRejected(f"the PNG is over the limit of {max_pixels:,} pixels") from error
    except Exception as error:  # untrusted bytes: Pillow raises many kinds
        raise FrameRejected("not a PNG") from error
    with image:
        width, height = image.size
        if image.size != size:
            shown = f"{size[0]}×{size[1]}"
            raise FrameRejected(f"the PNG is {width}×{height}, not the announced {shown}")
        if width * height > max_pixels:
            raise FrameRejected(f"the PNG is over the limit of {max_pixels:,} pixels")
        try:
            image.load()
            output = io.BytesIO()
            image.save(output, format="PNG", pnginfo=info)
        except Exception as error:
            raise FrameRejected("a truncated or corrupt PNG") from error
    return output.getvalue()


def record_frame(
    session: Session, message: messages.CaptureFrame, settings: Settings
) -> str | None:
    """Store one frame in the capture's folder; a frame that cannot be stored leaves nothing
    but a line in the job's log, and what was wrong is returned (for the bridge)."""
    found = _running(session, message.job_id)
    if found is None:
        return None
    capture, job = found
    device = session.get_one(Device, capture.device_id)
    dataset = session.get_one(Dataset, capture.dataset_id)
    captured = message.captured_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    name = f"device{device.id}-{message.captured_at:%Y%m%dT%H%M%S%f}-{message.index:04d}.png"
    size = (message.width, message.height)
    try:
        png = frame_png(message.png, settings.max_capture_frame_bytes)
        data = tagged_png(png, device, captured, size, settings.max_image_pixels)
        lock_for_writing(session)  # another bridge's write must not come between
        with session.begin_nested():  # nothing of a refused frame stays
            upload = Upload(name, io.BytesIO(data))
            datasets.add_images(
                session, DatabaseBlobStore(session), dataset, [upload], capture.folder, settings
            )
    except (FrameRejected, TinyMLaaSError) as error:
        line = f"frame {message.index} was not stored: {error}"
        log.warning("capture job %s: %s", job.id, line)
        jobs_repository.add_event(session, job.id, "log", {"line": line})
        return f"capture_frame for job {job.id}: {line}"
    image_id = session.scalar(
        select(ImageRow.id).where(
            ImageRow.dataset_id == dataset.id,
            ImageRow.folder == capture.folder,
            ImageRow.name == name,
        )
    )
    capture.image_ids = [*capture.image_ids, int(image_id or 0)]
    job.progress = min(1.0, len(capture.image_ids) / capture.count)
    job.message = f"{len(capture.image_ids)} of {capture.count} frames stored"
    event = {"progress": job.progress, "message": job.message, "image_id": image_id}
    jobs_repository.add_event(session, job.id, "progress", event)
    session.flush()
    return None


def record_result(session: Session, message: messages.CaptureResult) -> None:
    found = _running(session, message.job_id)
    if found is None:
        return
    capture, job = found
    device = session.get(Device, capture.device_id)
    if device is not None:
        device.busy = False
    stored = len(capture.image_ids)
    where = f"{stored} frames stored in {capture.folder}"
    if message.ok:
        jobs.finish(session, job, JobStatus.succeeded, message=f"captured: {where}"[:500])
    else:
        capture.error = message.error
        error = f"{message.error or 'the capture failed'}; {where}"
        jobs.finish(session, job, JobStatus.failed, message="capture failed", error=error)
    session.flush()


def bridge_gone(session: Session, bridge_id: int) -> None:
    rows = session.execute(
        select(DeviceCapture, Job)
        .join(Device, Device.id == DeviceCapture.device_id)
        .join(Job, Job.id == DeviceCapture.job_id)
        .where(Device.bridge_id == bridge_id, Job.status == JobStatus.running)
    ).all()
    for capture, job in rows:
        error = (
            f"the bridge disconnected during the capture; {len(capture.image_ids)} frames"
            f" were stored in {capture.folder}"
        )
        jobs.finish(session, job, JobStatus.failed, message="bridge disconnected", error=error)
    session.flush()
