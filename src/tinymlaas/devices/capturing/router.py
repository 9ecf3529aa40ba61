from __future__ import annotations

from fastapi import APIRouter, status

from tinymlaas.auth.dependencies import CurrentUser, SessionDep
from tinymlaas.devices import service as devices
from tinymlaas.devices.capturing import service
from tinymlaas.devices.capturing.schemas import CaptureRead, CaptureRequest
from tinymlaas.params import Id

router = APIRouter(tags=["devices"])


@router.post(
    "/devices/{device_id}/capture",
    operation_id="capture_from_device",
    response_model=CaptureRead,
    status_code=status.HTTP_202_ACCEPTED,
)
def capture_from_device(
    device_id: Id, payload: CaptureRequest, session: SessionDep, user: CurrentUser
) -> CaptureRead:
    """Take camera frames from the board into a folder of a dataset (its label), as PNGs that
    name the device, board and time in their metadata."""
    device = devices.get_device(session, user, device_id)
    return service.describe(session, service.request_capture(session, user, device, payload))


@router.get("/device-captures/{capture_id}", operation_id="get_capture", response_model=CaptureRead)
def read_capture(capture_id: Id, session: SessionDep, user: CurrentUser) -> CaptureRead:
    """One capture, with the images stored so far (a live preview polls it)."""
    return service.describe(session, service.get_capture(session, user, capture_id))
