from __future__ import annotations

from fastapi import APIRouter, status

from tinymlaas.auth.dependencies import CurrentUser, SessionDep
from tinymlaas.devices import service as devices
from tinymlaas.devices.testing import repository, service
from tinymlaas.devices.testing.schemas import (
    DeviceTestAccepted,
    DeviceTestRead,
    DeviceTestRequest,
)
from tinymlaas.enums import JobStatus
from tinymlaas.params import Id, OptionalIdFilter
from tinymlaas.schemas import Page

router = APIRouter(tags=["devices"])


@router.post(
    "/devices/{device_id}/test",
    operation_id="test_on_device",
    response_model=DeviceTestAccepted,
    status_code=status.HTTP_202_ACCEPTED,
)
def test_on_device(
    device_id: Id, payload: DeviceTestRequest, session: SessionDep, user: CurrentUser
) -> DeviceTestAccepted:
    """Test a compiled model on the board itself: held-out images, preprocessed as training did,
    go to the board over serial; its answers are compared with the truth and the host's int8."""
    device = devices.get_device(session, user, device_id)
    test = service.request_test(session, user, device, payload)
    return DeviceTestAccepted(
        id=test.id, job_id=test.job_id, status=JobStatus.queued, images=len(test.image_ids)
    )


@router.get("/device-tests", operation_id="list_device_tests", response_model=Page[DeviceTestRead])
def list_device_tests(
    session: SessionDep,
    user: CurrentUser,
    compiled_id: OptionalIdFilter = None,
    device_id: OptionalIdFilter = None,
) -> Page[DeviceTestRead]:
    """The user's device tests, newest first (optionally of one compiled model or device)."""
    rows = repository.list_owned(session, user.id, compiled_id, device_id)
    return Page(items=[service.describe(test, job) for test, job in rows], total=len(rows))


@router.get(
    "/device-tests/{test_id}", operation_id="get_device_test", response_model=DeviceTestRead
)
def read_device_test(test_id: Id, session: SessionDep, user: CurrentUser) -> DeviceTestRead:
    """One device test, with its report once it is done."""
    return service.describe_many(session, [service.get_test(session, user, test_id)])[0]
