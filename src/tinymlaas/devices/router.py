from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, WebSocket, status
from sse_starlette.sse import EventSourceResponse

from tinymlaas.auth.dependencies import CurrentUser, SessionDep, SettingsDep
from tinymlaas.compiling import service as compiling
from tinymlaas.devices import history, hub, repository, service
from tinymlaas.devices.events import observation_response
from tinymlaas.devices.schemas import (
    BridgeCreate,
    BridgeCreated,
    BridgeRead,
    DeviceHistory,
    DeviceRead,
    DeviceUpdate,
    InstallAccepted,
    InstallCheckRead,
    InstallRequest,
    ObservationRead,
)
from tinymlaas.enums import JobStatus
from tinymlaas.models import Bridge, Device
from tinymlaas.params import MAX_ID, Id, Limit, Offset, OptionalIdFilter
from tinymlaas.schemas import Page

router = APIRouter(tags=["devices"])
RequiredIdFilter = Annotated[int, Query(ge=1, le=MAX_ID)]


def get_bridge(bridge_id: Id, session: SessionDep, user: CurrentUser) -> Bridge:
    return service.get_bridge(session, user, bridge_id)


def get_device(device_id: Id, session: SessionDep, user: CurrentUser) -> Device:
    return service.get_device(session, user, device_id)


BridgeDep = Annotated[Bridge, Depends(get_bridge)]
DeviceDep = Annotated[Device, Depends(get_device)]


@router.post(
    "/bridges",
    operation_id="create_bridge",
    response_model=BridgeCreated,
    status_code=status.HTTP_201_CREATED,
)
def create_bridge(
    payload: BridgeCreate, session: SessionDep, user: CurrentUser, request: Request
) -> BridgeCreated:
    """Register a bridge; its token is shown only in this answer."""
    bridge, token = service.create_bridge(session, user, payload.name)
    commands = service.bridge_commands(str(request.base_url).rstrip("/"), bridge, token)
    return BridgeCreated(
        **service.describe_bridge(bridge).model_dump(), token=token, command=commands.command
    )


@router.get("/bridges", operation_id="list_bridges", response_model=Page[BridgeRead])
def list_bridges(session: SessionDep, user: CurrentUser) -> Page[BridgeRead]:
    """The user's bridges with online/offline status."""
    bridges = repository.list_bridges(session, user.id)
    return Page(items=[service.describe_bridge(b) for b in bridges], total=len(bridges))


@router.delete(
    "/bridges/{bridge_id}", operation_id="delete_bridge", status_code=status.HTTP_204_NO_CONTENT
)
def delete_bridge(bridge: BridgeDep, session: SessionDep) -> Response:
    """Revoke a bridge's token; a connected bridge is disconnected."""
    service.delete_bridge(session, bridge)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.websocket("/bridges/connect")
async def bridge_connect(websocket: WebSocket) -> None:
    """A bridge's connection (authenticated with `Authorization: Bearer <bridge token>`)."""
    await hub.serve_bridge(websocket, websocket.app.state.session_factory)


@router.get("/devices", operation_id="list_devices", response_model=Page[DeviceRead])
def list_devices(
    session: SessionDep, user: CurrentUser, bridge_id: OptionalIdFilter = None
) -> Page[DeviceRead]:
    """Every board the user's bridges have seen, with status."""
    devices = repository.list_devices(session, user.id, bridge_id)
    return Page(items=service.describe_devices(session, devices), total=len(devices))


@router.get("/devices/{device_id}", operation_id="get_device", response_model=DeviceRead)
def read_device(device: DeviceDep, session: SessionDep) -> DeviceRead:
    """One device."""
    return service.describe_devices(session, [device])[0]


@router.patch("/devices/{device_id}", operation_id="update_device", response_model=DeviceRead)
def update_device(payload: DeviceUpdate, device: DeviceDep, session: SessionDep) -> DeviceRead:
    """Rename a device or set its board."""
    service.update_device(session, device, payload)
    return service.describe_devices(session, [device])[0]


@router.post(
    "/devices/{device_id}/install",
    operation_id="install_model",
    response_model=InstallAccepted,
    status_code=status.HTTP_202_ACCEPTED,
)
def install_model(
    payload: InstallRequest, device: DeviceDep, session: SessionDep, user: CurrentUser
) -> InstallAccepted:
    """Install a compiled model on a device through its bridge.

    Refused (409) if it cannot fit the device's board, or was compiled for another board than
    a real device's unless `force` is set.
    """
    compiled = compiling.get_compiled(session, user, payload.compiled_id)
    installation = service.request_install(session, user, device, compiled, force=payload.force)
    return InstallAccepted(id=installation.id, job_id=installation.job_id, status=JobStatus.queued)


@router.get(
    "/devices/{device_id}/install-check",
    operation_id="check_install",
    response_model=InstallCheckRead,
)
def check_install(
    device: DeviceDep, session: SessionDep, user: CurrentUser, compiled_id: RequiredIdFilter
) -> InstallCheckRead:
    """Whether a compiled model can be installed on the device, and why not (fit, board)."""
    compiled = compiling.get_compiled(session, user, compiled_id)
    check = service.check_install(device, compiled)
    return InstallCheckRead(
        device_id=device.id,
        compiled_id=compiled.id,
        allowed=check.allowed,
        problem=check.problem,
        reason=check.reason,
        fits=check.fit.fits if check.fit else None,
        fit_detail=check.fit.detail if check.fit else None,
    )


@router.get(
    "/devices/{device_id}/observations",
    operation_id="list_observations",
    response_model=Page[ObservationRead],
)
def list_observations(
    device: DeviceDep,
    session: SessionDep,
    since: datetime | None = None,
    after_id: Offset = 0,
    limit: Limit = 100,
) -> Page[ObservationRead]:
    """The device's latest predictions (oldest first), optionally since a time or an id."""
    rows, total = repository.observations(session, device.id, since, after_id, limit)
    return Page(
        items=[ObservationRead.model_validate(row, from_attributes=True) for row in rows],
        total=total,
    )


@router.get(
    "/devices/{device_id}/history", operation_id="device_history", response_model=DeviceHistory
)
def device_history(
    device: DeviceDep,
    session: SessionDep,
    hours: Annotated[int, Query(ge=1, le=history.MAX_HOURS)] = 24,
) -> DeviceHistory:
    """Predictions per hour over the last `hours` hours: counts per label, latency, top score."""
    return history.device_history(session, device, hours)


@router.get(
    "/devices/{device_id}/observe",
    operation_id="observe_device",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def observe_device(
    device: DeviceDep,
    request: Request,
    settings: SettingsDep,
    last_event_id: Annotated[int | None, Header()] = None,
) -> EventSourceResponse:
    """Server-Sent Events: each new prediction of the device as it arrives."""
    return observation_response(request, device.id, last_event_id, settings.job_poll_seconds)
