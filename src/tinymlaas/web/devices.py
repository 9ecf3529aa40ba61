"""Device pages: bridges (token shown once), the device list kept live, a device's page with
installs and its live predictions."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Header, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.orm import Session
from sse_starlette.sse import EventSourceResponse

from tinymlaas.auth.dependencies import SessionDep, SettingsDep
from tinymlaas.compiling import repository as compiling_repository
from tinymlaas.compiling import service as compiling
from tinymlaas.devices import history, observation_repository, repository, service
from tinymlaas.devices.events import observation_response
from tinymlaas.devices.schemas import BridgeCreate, DeviceUpdate, ObservationRead
from tinymlaas.enums import ACTIVE_STATUSES
from tinymlaas.hardware.boards import BOARDS
from tinymlaas.jobs import service as jobs
from tinymlaas.models import Bridge, CompiledModel, Device
from tinymlaas.training import repository as training_repository
from tinymlaas.web import review
from tinymlaas.web.auth import CsrfChecked, PageUser
from tinymlaas.web.captures import capture_context
from tinymlaas.web.forms import parse_form
from tinymlaas.web.rendering import PageRoute, back_url, redirect, render, wants_json

router = APIRouter(route_class=PageRoute, include_in_schema=False)

HISTORY_SHOWN = 50
HOURS_SHOWN = 24
INSTALL_OUTPUT_SHOWN = 20_000


def get_page_device(device_id: int, page: PageUser, session: SessionDep) -> Device:
    return service.get_device(session, page.user, device_id)


def get_page_bridge(bridge_id: int, page: PageUser, session: SessionDep) -> Bridge:
    return service.get_bridge(session, page.user, bridge_id)


PageDevice = Annotated[Device, Depends(get_page_device)]
PageBridge = Annotated[Bridge, Depends(get_page_bridge)]


def _lists_context(session: Session, page: PageUser) -> dict[str, Any]:
    """What the bridges and devices tables show (also re-rendered for the live refresh)."""
    bridges = repository.list_bridges(session, page.user.id)
    devices = repository.list_devices(session, page.user.id)
    installed_ids = {d.installed_compiled_id for d in devices if d.installed_compiled_id}
    installed = compiling_repository.owned_by_id(session, page.user.id, installed_ids)
    model_ids = {compiled.model_id for compiled in installed.values()}
    return {
        "bridges": [service.describe_bridge(bridge) for bridge in bridges],
        "bridge_names": {bridge.id: bridge.name for bridge in bridges},
        "devices": service.describe_devices(session, devices),
        "installed": installed,
        "model_names": training_repository.names_by_id(session, page.user.id, model_ids),
        "boards": BOARDS,
    }


def _devices_page(
    request: Request, session: Session, page: PageUser, created: dict[str, Any] | None = None
) -> Response:
    context = {"user": page.user, "nav": "devices", "created": created}
    context.update(_lists_context(session, page))
    return render(request, "devices.html", context, status_code=201 if created else 200)


@router.get("/devices", response_class=HTMLResponse)
def list_devices(request: Request, page: PageUser, session: SessionDep) -> Response:
    """Bridges and the boards they see, with live status."""
    return _devices_page(request, session, page)


@router.get("/devices/lists", response_class=HTMLResponse)
def device_lists(request: Request, page: PageUser, session: SessionDep) -> Response:
    """The bridges and devices tables alone: the page swaps them in every few seconds."""
    context = {"user": page.user, "csrf_token": page.csrf_token}
    context.update(_lists_context(session, page))
    return render(request, "_device_lists.html", context)


@router.post("/devices/bridges", dependencies=[CsrfChecked])
def create_bridge(
    request: Request,
    page: PageUser,
    session: SessionDep,
    name: Annotated[str, Form()],
) -> Response:
    """Register a bridge and show its token, once (JSON for the page's script)."""
    fields = parse_form(BridgeCreate, {"name": name})
    bridge, token = service.create_bridge(session, page.user, fields.name)
    commands = service.bridge_commands(str(request.base_url).rstrip("/"), bridge, token)
    created = {"id": bridge.id, "name": bridge.name, "token": token, **asdict(commands)}
    if wants_json(request):
        return JSONResponse(created, status_code=201, headers={"Cache-Control": "no-store"})
    response = _devices_page(request, session, page, created)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/devices/bridges/{bridge_id}/delete", dependencies=[CsrfChecked])
def revoke_bridge(bridge: PageBridge, session: SessionDep) -> Response:
    """Revoke a bridge's token: it is disconnected and its devices are forgotten."""
    name = bridge.name
    service.delete_bridge(session, bridge)
    return redirect("/devices", f"Revoked bridge '{name}'; its devices are gone from the list.")


def _install_choice(device: Device, compiled: CompiledModel) -> dict[str, Any]:
    """Whether a compiled model may go on the device and why not, by the rules request_install
    applies (`forceable`: only the board differs, which an expert may override)."""
    check = service.check_install(device, compiled)
    fit = check.fit.detail if check.fit is not None else {}
    return {
        "fits": check.fit is not None and check.fit.fits,
        "summary": fit.get("summary", ""),
        "allowed": check.allowed,
        "forceable": check.problem == "other_board",
        "reason": check.reason or "",
        **fit,
    }


def _install_state(session: Session, page: PageUser, device: Device) -> dict[str, Any]:
    """The device's latest install: its job (followed live while it runs) and its output."""
    installation = repository.latest_installation(session, device.id)
    if installation is None:
        return {"installation": None, "install_job": None, "install_active": False}
    job = jobs.describe(session, [jobs.get_job(session, page.user, installation.job_id)])[0]
    return {
        "installation": installation,
        "install_job": job,
        "install_active": job.status in ACTIVE_STATUSES,
        "install_output": (installation.output or "")[-INSTALL_OUTPUT_SHOWN:],
    }


def _compiled_names(
    session: Session, owner_id: int, ready: list[CompiledModel], others: set[int]
) -> dict[int, str]:
    """A name for each compiled model the page mentions: the installable ones and `others`."""
    rows = {row.id: row for row in ready}
    rows.update(compiling_repository.owned_by_id(session, owner_id, others - rows.keys()))
    model_ids = {row.model_id for row in rows.values()}
    model_names = training_repository.names_by_id(session, owner_id, model_ids)
    return {
        row.id: f"{model_names.get(row.model_id, f'model {row.model_id}')} · {row.board}"
        f" {row.quantization}"
        for row in rows.values()
    }


@router.get("/devices/{device_id}", response_class=HTMLResponse)
def show_device(
    request: Request, device: PageDevice, page: PageUser, session: SessionDep
) -> Response:
    """Install a model, follow the install, and watch the device's predictions live."""
    described = service.describe_devices(session, [device])[0]
    if wants_json(request):
        return JSONResponse(described.model_dump(mode="json"))
    board = BOARDS.get(device.board or "")
    ready = compiling_repository.list_succeeded(session, page.user.id)
    # The latest rows by the (device_id, id) index; the total from the hourly aggregates, so
    # neither counts millions of rows.
    rows = observation_repository.latest(session, device.id, HISTORY_SHOWN)
    hours = history.device_history(session, device, HOURS_SHOWN)
    install = _install_state(session, page, device)
    mentioned = {row.compiled_id for row in rows if row.compiled_id is not None}
    if install["installation"] is not None:
        mentioned.add(install["installation"].compiled_id)
    if device.installed_compiled_id is not None:
        mentioned.add(device.installed_compiled_id)
    compiled_names = _compiled_names(session, page.user.id, ready, mentioned)
    context = {
        "user": page.user,
        "nav": "devices",
        "device": described,
        "bridge": repository.get_bridge(session, page.user.id, device.bridge_id),
        "board": board,
        "boards": BOARDS,
        "compiled_names": compiled_names,
        "choices": [
            {"compiled": row, "fit": _install_choice(device, row) if board else None}
            for row in ready
        ],
        "observations": [
            ObservationRead.model_validate(row, from_attributes=True).model_dump(mode="json")
            for row in rows
        ],
        "observation_total": hours.total,
        "hours": list(reversed(hours.hours)),
        "history_shown": HISTORY_SHOWN,
        "latency_estimate": _latency_estimate(session, device),
    }
    context.update(install)
    queue_max = request.app.state.settings.review_queue_max
    context.update(review.capture_context(session, page.user, device, queue_max))
    context.update(capture_context(session, page.user, device))
    return render(request, "device.html", context)


def _latency_estimate(session: Session, device: Device) -> dict[str, Any] | None:
    """The installed model's latency estimated from its instructions counted under QEMU (a
    model compiled with engine "c"), to show next to the latency the board measures."""
    if device.installed_compiled_id is None:
        return None
    compiled = session.get(CompiledModel, device.installed_compiled_id)
    measured = compiled.measured if compiled is not None else None
    if measured is None or measured.latency_ms_estimate is None:
        return None
    return {"ms": measured.latency_ms_estimate, "core": measured.core}


@router.post("/devices/{device_id}", dependencies=[CsrfChecked])
def update_device(
    request: Request,
    device: PageDevice,
    session: SessionDep,
    name: Annotated[str | None, Form()] = None,
    board: Annotated[str | None, Form()] = None,
) -> Response:
    """Rename a device or set its board."""
    values = {key: value.strip() for key, value in (("name", name), ("board", board)) if value}
    changes = parse_form(DeviceUpdate, values)
    service.update_device(session, device, changes)
    return redirect(back_url(request, f"/devices/{device.id}"), f"Saved device '{device.name}'.")


@router.post("/devices/{device_id}/install", dependencies=[CsrfChecked])
def install_model(
    request: Request,
    device: PageDevice,
    page: PageUser,
    session: SessionDep,
    compiled_id: Annotated[int, Form()],
    force: Annotated[bool, Form()] = False,
) -> Response:
    """Queue installing a compiled model through the device's bridge (refused if it cannot fit,
    or if it was compiled for another board unless forced)."""
    compiled = compiling.get_compiled(session, page.user, compiled_id)
    installation = service.request_install(session, page.user, device, compiled, force=force)
    target = f"/devices/{device.id}"
    if wants_json(request):
        return JSONResponse({"job_id": installation.job_id, "redirect": target}, status_code=202)
    return redirect(target, "Install queued: the bridge picks it up within a second.")


@router.get("/devices/{device_id}/observe")
def observe_device(
    device: PageDevice,
    request: Request,
    settings: SettingsDep,
    last_event_id: Annotated[int | None, Header()] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> EventSourceResponse:
    """The device's predictions as Server-Sent Events, for the page (the API's stream)."""
    return observation_response(
        request,
        device.id,
        last_event_id if last_event_id is not None else after,
        settings.job_poll_seconds,
    )
