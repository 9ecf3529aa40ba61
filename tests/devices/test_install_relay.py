"""Installs are sent one at a time per board, and never while a test or capture has its port."""

from __future__ import annotations

import pytest

from tinymlaas.db.session import transaction
from tinymlaas.devices.install_relay import claim_installs
from tinymlaas.models import Device, DeviceCapture, DeviceTest, Installation, Job, User

from conftest import Database
from support.factories import compiled_row, device_row

WORKER = "bridge-1@test"


def bench(database: Database) -> tuple[int, int, int, int]:
    """A present device and a queued install on it: (owner, device, bridge, install job)."""
    with transaction(database.factory) as session:
        user = User(username="installer", password_hash="-")
        session.add(user)
        session.flush()
        owner = user.id
    compiled_id = compiled_row(database, owner)
    device_id = device_row(database, owner, present=True)
    with transaction(database.factory) as session:
        job = Job(owner_id=owner, kind="install", status="queued")
        session.add(job)
        session.flush()
        session.add(
            Installation(
                owner_id=owner, device_id=device_id, compiled_id=compiled_id, job_id=job.id
            )
        )
        return owner, device_id, session.get_one(Device, device_id).bridge_id, job.id


def hold_port(database: Database, owner: int, device_id: int, work: str) -> int:
    """A device test (sent to the bridge) or a capture (running) on the device: its job."""
    with transaction(database.factory) as session:
        job = Job(owner_id=owner, kind=work, status="running")
        session.add(job)
        session.flush()
        if work == "device_test":
            compiled_id = (
                session.query(Installation).filter_by(device_id=device_id).first().compiled_id
            )  # type: ignore[union-attr]
            session.add(
                DeviceTest(
                    owner_id=owner, device_id=device_id, compiled_id=compiled_id, job_id=job.id,
                    split="validation", stage="sent", image_ids=[1], labels=[0], done=0,
                )
            )  # fmt: skip
        else:
            from tinymlaas.models import Dataset

            dataset = Dataset(owner_id=owner, name="pets")
            session.add(dataset)
            session.flush()
            session.add(
                DeviceCapture(
                    owner_id=owner, device_id=device_id, dataset_id=dataset.id, job_id=job.id,
                    folder="cat", count=3, interval_ms=0, image_ids=[],
                )
            )  # fmt: skip
        return job.id


@pytest.mark.parametrize(
    ("work", "holder"), [("device_test", "a device test"), ("capture", "a capture")]
)
def test_an_install_waits_while_a_test_or_capture_has_the_port(
    database: Database, work: str, holder: str
) -> None:
    owner, device_id, bridge_id, install_job = bench(database)
    work_job = hold_port(database, owner, device_id, work)
    with transaction(database.factory) as session:
        assert claim_installs(session, bridge_id, WORKER) == []
    with database.factory() as session:
        job = session.get_one(Job, install_job)
        assert job.status == "queued"
        assert job.message == f"waiting: nano is busy with {holder} (job {work_job})"
    with transaction(database.factory) as session:
        if work == "device_test":
            test = session.query(DeviceTest).filter_by(job_id=work_job).one()
            test.stage = "answered"
        else:
            session.get_one(Job, work_job).status = "succeeded"
    with transaction(database.factory) as session:
        claimed = claim_installs(session, bridge_id, WORKER)
        assert [installation.job_id for installation, _ in claimed] == [install_job]
        assert session.get_one(Device, device_id).busy
    with database.factory() as session:
        assert session.get_one(Job, install_job).status == "running"


def test_a_second_install_waits_for_the_first(database: Database) -> None:
    owner, device_id, bridge_id, first = bench(database)
    with transaction(database.factory) as session:
        job = Job(owner_id=owner, kind="install", status="queued")
        session.add(job)
        session.flush()
        compiled_id = session.query(Installation).filter_by(device_id=device_id).first().compiled_id  # type: ignore[union-attr]
        session.add(
            Installation(
                owner_id=owner, device_id=device_id, compiled_id=compiled_id, job_id=job.id
            )
        )
    with transaction(database.factory) as session:
        claimed = claim_installs(session, bridge_id, WORKER)
        assert [installation.job_id for installation, _ in claimed] == [first]
    with transaction(database.factory) as session:
        assert claim_installs(session, bridge_id, WORKER) == []
