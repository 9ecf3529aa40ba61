"""The API process's part of a device test: prepared tensors to the bridge, answers back.

Called by the hub (`devices/hub.py`) for the bridge it holds; every step is a stage change on
the `device_tests` row, which the worker running the job polls.
"""

from __future__ import annotations

import base64
import logging

from sqlalchemy.orm import Session, object_session

from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.compiling import repository as compiled_repository
from tinymlaas.devices import messages
from tinymlaas.devices import repository as devices_repository
from tinymlaas.devices.testing import repository
from tinymlaas.enums import JobStatus
from tinymlaas.jobs import repository as jobs_repository
from tinymlaas.jobs import service as jobs
from tinymlaas.models import Device, DeviceTest, Job

log = logging.getLogger(__name__)
# Tensors per `device_test_images` message: a few MiB, far below WebSocket message limits.
CHUNK_BYTES = 4 * 2**20
# How long the board has to answer one image.
TIMEOUT_MS = 2000


def outgoing_tests(
    session: Session, bridge_id: int, features: frozenset[str] | None, version: str
) -> list[messages.Message]:
    """Take the bridge's prepared tests: the messages that start them on its boards."""
    if features is None:  # before the bridge's hello
        return []
    outgoing: list[messages.Message] = []
    installing = devices_repository.devices_installing(session, bridge_id)
    for test, device in repository.ready_for_bridge(session, bridge_id):
        if device.id in installing:
            continue  # the installer has the port; the test waits for it
        if not repository.move_stage(session, test.id, "ready", "sent"):
            continue  # another process holding this bridge took it
        if messages.DEVICE_TEST not in features:
            shown = f" (version {version})" if version else ""
            _fail(test, f"this bridge{shown} cannot test on a device: update it")
            continue
        device.busy = True  # the port belongs to the test until its result
        outgoing += _test_messages(session, test, device)
    session.flush()
    return outgoing


def _test_messages(session: Session, test: DeviceTest, device: Device) -> list[messages.Message]:
    manifest = compiled_repository.file(session, test.compiled_id, "manifest.json")
    size = test.input_bytes or 0
    if manifest is None or test.inputs_sha256 is None or size <= 0:
        _fail(test, "the test's tensors or the model's manifest are missing")
        return []
    tensors = DatabaseBlobStore(session).get(test.inputs_sha256)
    count = len(tensors) // size
    start: list[messages.Message] = [
        messages.DeviceTest(
            job_id=test.job_id,
            port=device.port,
            model_id=manifest.sha256,
            count=count,
            input_bytes=size,
            timeout_ms=TIMEOUT_MS,
        )
    ]
    per_chunk = max(1, CHUNK_BYTES // size)
    return start + [
        messages.DeviceTestImages(
            job_id=test.job_id,
            first=first,
            data=base64.b64encode(tensors[first * size : (first + per_chunk) * size]).decode(),
        )
        for first in range(0, count, per_chunk)
    ]


def record(
    session: Session, message: messages.DeviceTestProgress | messages.DeviceTestResult
) -> None:
    """What a bridge reports of a running test."""
    if isinstance(message, messages.DeviceTestProgress):
        record_progress(session, message)
    else:
        record_result(session, message)
    session.flush()


def record_progress(session: Session, message: messages.DeviceTestProgress) -> None:
    test = repository.get_by_job(session, message.job_id)
    if test is not None and test.stage == "sent":
        test.done = min(message.done, len(test.image_ids))


def record_result(session: Session, message: messages.DeviceTestResult) -> None:
    """Store the board's answers whole, or the reason there are none; nothing half."""
    test = repository.get_by_job(session, message.job_id)
    if test is None or test.stage != "sent":
        log.info("device test result for job %s, which is not waiting", message.job_id)
        return
    if message.cancelled:
        _cancelled(session, test, message.answered)
        return
    if not message.ok:
        _fail(test, message.error or "the bridge could not run the test")
        return
    expected = len(test.image_ids)
    if len(message.answers) != expected:
        _fail(test, f"the bridge sent {len(message.answers)} answers for {expected} images")
        return
    test.answers = [answer.model_dump(mode="json") for answer in message.answers]
    test.seconds = message.seconds
    test.bytes_sent = message.bytes_sent
    test.done = expected
    test.stage = "answered"
    _free(test)


def _cancelled(session: Session, test: DeviceTest, answered: int) -> None:
    """The bridge stopped the test and let go of the port: the job ends cancelled, saying how
    far the board got (whether or not its worker noticed the cancel first)."""
    test.done = min(answered, len(test.image_ids))
    test.stage = "cancelled"
    _free(test)
    job = session.get(Job, test.job_id)
    message = f"cancelled: {test.done} of {len(test.image_ids)} images answered by the board"
    if job is None:
        return
    if job.status == JobStatus.running:
        jobs.finish(session, job, JobStatus.cancelled, message=message)
    elif job.status == JobStatus.cancelled:
        job.message = message
        jobs_repository.add_event(
            session, job.id, "state", {"status": JobStatus.cancelled, "message": message}
        )


def outgoing_cancels(
    session: Session, bridge_id: int, features: frozenset[str] | None, asked: set[int]
) -> list[messages.Message]:
    """Ask the bridge to stop its tests whose cancel was requested (once each; a bridge too old
    to be asked runs the test to its end, and its answers are then ignored)."""
    if features is None or messages.CANCEL_DEVICE_TEST not in features:
        return []
    outgoing: list[messages.Message] = []
    for test in repository.sent_by_bridge(session, bridge_id):
        job = session.get(Job, test.job_id)
        if job is None or not job.cancel_requested or job.id in asked:
            continue
        asked.add(job.id)
        outgoing.append(messages.CancelDeviceTest(job_id=job.id))
    return outgoing


def bridge_gone(session: Session, bridge_id: int) -> None:
    for test in repository.sent_by_bridge(session, bridge_id):
        _fail(test, "the bridge disconnected during the test")
    session.flush()


def _fail(test: DeviceTest, error: str) -> None:
    test.error = error[:2000]
    test.stage = "failed"
    _free(test)


def _free(test: DeviceTest) -> None:
    """The port is the reader's again: the device is no longer busy."""
    session = object_session(test)
    device = session.get(Device, test.device_id) if session is not None else None
    if device is not None:
        device.busy = False
