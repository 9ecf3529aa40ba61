"""The API side of a device test: tensors out to the bridge, answers back, nothing half stored."""

from __future__ import annotations

import base64

import pytest

from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.db.session import transaction
from tinymlaas.devices import messages
from tinymlaas.devices.testing import relay
from tinymlaas.models import Device, DeviceTest, Job, User

from conftest import Database
from support.factories import compiled_row, device_row

TENSORS = bytes(range(256)) * 3  # three 256-byte tensors


def ready_test(database: Database) -> tuple[int, int]:
    """A prepared test of three images on a present device: (test id, bridge id)."""
    with transaction(database.factory) as session:
        user = User(username="tester", password_hash="-")
        session.add(user)
        session.flush()
        owner = user.id
    compiled_id = compiled_row(database, owner)
    device_id = device_row(database, owner, installed_compiled_id=compiled_id, present=True)
    with transaction(database.factory) as session:
        job = Job(owner_id=owner, kind="device_test", status="running")
        session.add(job)
        session.flush()
        test = DeviceTest(
            owner_id=owner, device_id=device_id, compiled_id=compiled_id, job_id=job.id,
            split="validation", stage="ready", image_ids=[1, 2, 3], labels=[0, 1, 0], done=0,
            inputs_sha256=DatabaseBlobStore(session).put(TENSORS).sha256, input_bytes=256,
            host=[[1, 0], [0, 1], [1, 0]],
        )  # fmt: skip
        session.add(test)
        session.flush()
        return test.id, session.get_one(Device, device_id).bridge_id


def test_a_bridge_gets_the_prepared_tensors_once(database: Database) -> None:
    test_id, bridge_id = ready_test(database)
    features = frozenset({messages.DEVICE_TEST})
    with transaction(database.factory) as session:
        sent = relay.outgoing_tests(session, bridge_id, features, "1.0")
    with transaction(database.factory) as session:
        again = relay.outgoing_tests(session, bridge_id, features, "1.0")
        test = session.get_one(DeviceTest, test_id)
        assert test.stage == "sent"
    assert again == []
    start, *chunks = sent
    assert isinstance(start, messages.DeviceTest)
    assert (start.count, start.input_bytes, start.port) == (3, 256, "/dev/ttyACM0")
    data = b"".join(base64.b64decode(chunk.data) for chunk in chunks)  # type: ignore[attr-defined]
    assert data == TENSORS


def test_an_old_bridge_is_not_sent_a_test_and_the_test_says_why(database: Database) -> None:
    test_id, bridge_id = ready_test(database)
    with transaction(database.factory) as session:
        assert relay.outgoing_tests(session, bridge_id, frozenset(), "0.9") == []
    with database.factory() as session:
        test = session.get_one(DeviceTest, test_id)
        assert (test.stage, test.error) == (
            "failed", "this bridge (version 0.9) cannot test on a device: update it",
        )  # fmt: skip


def answer(count: int) -> messages.DeviceTestResult:
    ok = messages.DeviceTestAnswer(status="ok", scores=[1, 0], latency_us=10)
    return messages.DeviceTestResult(job_id=0, ok=True, answers=[ok] * count, seconds=0.1)


@pytest.mark.parametrize(
    ("result", "error"),
    [
        (answer(2), "the bridge sent 2 answers for 3 images"),
        (answer(4), "the bridge sent 4 answers for 3 images"),
        (messages.DeviceTestResult(job_id=0, ok=False, error="board gone"), "board gone"),
    ],
)
def test_a_result_that_does_not_account_for_every_image_stores_nothing(
    database: Database, result: messages.DeviceTestResult, error: str
) -> None:
    test_id, bridge_id = ready_test(database)
    with transaction(database.factory) as session:
        relay.outgoing_tests(session, bridge_id, frozenset({messages.DEVICE_TEST}), "")
        job_id = session.get_one(DeviceTest, test_id).job_id
        relay.record(session, result.model_copy(update={"job_id": job_id}))
    with database.factory() as session:
        test = session.get_one(DeviceTest, test_id)
        assert (test.stage, test.error, test.answers) == ("failed", error, None)


def test_the_answers_are_stored_whole_and_a_late_disconnect_changes_nothing(
    database: Database,
) -> None:
    test_id, bridge_id = ready_test(database)
    with transaction(database.factory) as session:
        relay.outgoing_tests(session, bridge_id, frozenset({messages.DEVICE_TEST}), "")
        job_id = session.get_one(DeviceTest, test_id).job_id
        relay.record(session, messages.DeviceTestProgress(job_id=job_id, done=2, total=3))
        test = session.get_one(DeviceTest, test_id)
        assert test.done == 2
        assert session.get_one(Device, test.device_id).busy  # the test has the port
        relay.record(session, answer(3).model_copy(update={"job_id": job_id}))
        relay.bridge_gone(session, bridge_id)
    with database.factory() as session:
        test = session.get_one(DeviceTest, test_id)
        assert (test.stage, test.done, len(test.answers or [])) == ("answered", 3, 3)
        assert not session.get_one(Device, test.device_id).busy


def test_a_bridge_that_disconnects_mid_test_fails_it(database: Database) -> None:
    test_id, bridge_id = ready_test(database)
    with transaction(database.factory) as session:
        relay.outgoing_tests(session, bridge_id, frozenset({messages.DEVICE_TEST}), "")
        relay.bridge_gone(session, bridge_id)
    with database.factory() as session:
        test = session.get_one(DeviceTest, test_id)
        assert (test.stage, test.error) == ("failed", "the bridge disconnected during the test")


def test_a_test_cancelled_before_the_bridge_took_it_is_never_sent(database: Database) -> None:
    test_id, bridge_id = ready_test(database)
    with transaction(database.factory) as session:
        session.get_one(Job, session.get_one(DeviceTest, test_id).job_id).status = "cancelled"
    with transaction(database.factory) as session:
        assert relay.outgoing_tests(session, bridge_id, frozenset({messages.DEVICE_TEST}), "") == []


def test_a_cancel_is_sent_to_a_bridge_that_can_stop_the_test_and_the_job_ends_cancelled(
    database: Database,
) -> None:
    test_id, bridge_id = ready_test(database)
    features = frozenset({messages.DEVICE_TEST, messages.CANCEL_DEVICE_TEST})
    asked: set[int] = set()
    with transaction(database.factory) as session:
        relay.outgoing_tests(session, bridge_id, features, "")
        job_id = session.get_one(DeviceTest, test_id).job_id
        assert relay.outgoing_cancels(session, bridge_id, features, asked) == []
        session.get_one(Job, job_id).cancel_requested = True
    with transaction(database.factory) as session:
        old = frozenset({messages.DEVICE_TEST})
        assert relay.outgoing_cancels(session, bridge_id, old, set()) == []
        sent = relay.outgoing_cancels(session, bridge_id, features, asked)
        assert sent == [messages.CancelDeviceTest(job_id=job_id)]
        assert relay.outgoing_cancels(session, bridge_id, features, asked) == []  # once
        cancelled = messages.DeviceTestResult(
            job_id=job_id, ok=False, error="cancelled", cancelled=True, answered=2
        )
        relay.record(session, cancelled)
    with database.factory() as session:
        test = session.get_one(DeviceTest, test_id)
        assert (test.stage, test.done) == ("cancelled", 2)
        assert not session.get_one(Device, test.device_id).busy
        job = session.get_one(Job, job_id)
        assert job.status == "cancelled"
        assert job.message == "cancelled: 2 of 3 images answered by the board"
