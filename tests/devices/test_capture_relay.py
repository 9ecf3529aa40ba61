"""The API side of a capture: frames into the dataset as tagged PNGs, nothing of a bad one."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime

from PIL import Image as PilImage
from sqlalchemy import select

from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.config import Settings
from tinymlaas.db.session import transaction
from tinymlaas.devices import messages
from tinymlaas.devices.capturing import relay
from tinymlaas.models import Dataset, Device, DeviceCapture, Image, Job, JobEvent, User

from conftest import Database
from support.factories import device_row, image_bytes

WORKER = "bridge-1@test"


def queued_capture(database: Database) -> tuple[int, int]:
    """A capture of 3 frames into folder "cat", queued for a present device: (job, bridge)."""
    with transaction(database.factory) as session:
        user = User(username="capturer", password_hash="-")
        session.add(user)
        session.flush()
        owner = user.id
    device_id = device_row(database, owner, present=True)
    with transaction(database.factory) as session:
        dataset = Dataset(owner_id=owner, name="pets")
        job = Job(owner_id=owner, kind="capture", status="queued")
        session.add_all([dataset, job])
        session.flush()
        session.add(
            DeviceCapture(
                owner_id=owner, device_id=device_id, dataset_id=dataset.id, job_id=job.id,
                folder="cat", count=3, interval_ms=0, image_ids=[],
            )
        )  # fmt: skip
        return job.id, session.get_one(Device, device_id).bridge_id


def frame(job_id: int, index: int, png: bytes) -> messages.CaptureFrame:
    return messages.CaptureFrame(
        job_id=job_id, index=index, png=base64.b64encode(png).decode(), width=24, height=24,
        captured_at=datetime(2026, 12, 1, 18, 0, index, tzinfo=UTC),
    )  # fmt: skip


def test_frames_are_stored_as_tagged_pngs_and_a_bad_one_leaves_nothing(
    database: Database, settings: Settings
) -> None:
    job_id, bridge_id = queued_capture(database)
    with transaction(database.factory) as session:
        outgoing, claimed = relay.outgoing_captures(
            session, bridge_id, frozenset({messages.CAPTURE}), "", WORKER
        )
    assert claimed == [job_id]
    assert isinstance(outgoing[0], messages.Capture)
    assert (outgoing[0].count, outgoing[0].port) == (3, "/dev/ttyACM0")
    png = image_bytes("PNG", size=(24, 24))
    with transaction(database.factory) as session:
        relay.record_frame(session, frame(job_id, 0, png), settings)
        relay.record_frame(session, frame(job_id, 1, b"not an image"), settings)
        relay.record_frame(session, frame(job_id, 2, png[: len(png) // 2]), settings)
        relay.record_result(session, messages.CaptureResult(job_id=job_id, ok=True, frames=3))
    with database.factory() as session:
        images = session.scalars(select(Image).where(Image.folder == "cat")).all()
        assert [(image.label, image.format) for image in images] == [("cat", "PNG")]
        stored = DatabaseBlobStore(session).get(images[0].sha256)
        with PilImage.open(io.BytesIO(stored)) as decoded:
            assert decoded.text["Board"] == "virtual"
            assert decoded.text["Captured"] == "2026-12-01T18:00:00.000000Z"
            assert "id " in decoded.text["Device"]
        job = session.get_one(Job, job_id)
        assert (job.status, job.message) == ("succeeded", "captured: 1 frames stored in cat")
        logs = session.scalars(
            select(JobEvent.data).where(JobEvent.job_id == job_id, JobEvent.type == "log")
        ).all()
        assert [line["line"][:23] for line in logs] == [
            "frame 1 was not stored:",
            "frame 2 was not stored:",
        ]


def test_an_old_bridge_is_not_sent_a_capture_and_the_job_says_why(database: Database) -> None:
    job_id, bridge_id = queued_capture(database)
    with transaction(database.factory) as session:
        assert relay.outgoing_captures(session, bridge_id, frozenset(), "0.9", WORKER) == ([], [])
    with database.factory() as session:
        job = session.get_one(Job, job_id)
        assert job.status == "failed"
        assert job.error == "this bridge (version 0.9) cannot capture camera frames: update it"


def test_a_bridge_that_disconnects_fails_the_capture_saying_what_was_stored(
    database: Database,
) -> None:
    job_id, bridge_id = queued_capture(database)
    with transaction(database.factory) as session:
        relay.outgoing_captures(session, bridge_id, frozenset({messages.CAPTURE}), "", WORKER)
        relay.bridge_gone(session, bridge_id)
    with database.factory() as session:
        job = session.get_one(Job, job_id)
        assert (job.status, job.error) == (
            "failed",
            "the bridge disconnected during the capture; 0 frames were stored in cat",
        )
