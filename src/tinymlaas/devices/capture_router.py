"""`/devices/{id}/capture-rule`: which of a device's predictions go to a review queue."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from tinymlaas.auth.dependencies import CurrentUser, SessionDep, SettingsDep
from tinymlaas.devices import capture_rules
from tinymlaas.devices.capture_schemas import CaptureRuleRead, CaptureRuleWrite
from tinymlaas.devices.router import DeviceDep

router = APIRouter(tags=["devices"])


@router.get(
    "/devices/{device_id}/capture-rule",
    operation_id="get_capture_rule",
    response_model=CaptureRuleRead,
)
def read_capture_rule(
    device: DeviceDep, session: SessionDep, settings: SettingsDep
) -> CaptureRuleRead:
    """The device's capture rule, with how much it kept this hour (404 if it has none)."""
    rule = capture_rules.get_rule(session, device)
    return capture_rules.describe(session, rule, settings.review_queue_max)


@router.put(
    "/devices/{device_id}/capture-rule",
    operation_id="put_capture_rule",
    response_model=CaptureRuleRead,
)
def put_capture_rule(
    payload: CaptureRuleWrite,
    device: DeviceDep,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
) -> CaptureRuleRead:
    """Create or replace the rule: doubtful predictions' frames go to the dataset's review."""
    rule = capture_rules.put_rule(session, user, device, payload)
    return capture_rules.describe(session, rule, settings.review_queue_max)


@router.delete(
    "/devices/{device_id}/capture-rule",
    operation_id="delete_capture_rule",
    status_code=status.HTTP_204_NO_CONTENT,
)
def delete_capture_rule(device: DeviceDep, session: SessionDep) -> Response:
    """Stop keeping frames of this device (the queue keeps what it holds)."""
    capture_rules.delete_rule(session, device)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
