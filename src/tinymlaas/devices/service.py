"""Rules of bridges, devices, installs and observations. Flushes; the caller commits."""

from __future__ import annotations

import hashlib
import secrets
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tinymlaas.db.base import utcnow
from tinymlaas.devices import repository, review_counts
from tinymlaas.devices.schemas import (
    BridgeRead,
    DeviceRead,
    DeviceUpdate,
    Installed,
    InstallProblem,
)
from tinymlaas.enums import JobKind, JobStatus
from tinymlaas.errors import BadRequest, Conflict, NotFound
from tinymlaas.hardware.boards import BOARDS, Board, UnknownBoard, get_board
from tinymlaas.hardware.footprint import FitVerdict, fit
from tinymlaas.hardware.serial_protocol import Hello
from tinymlaas.jobs import service as jobs
from tinymlaas.models import Bridge, CompiledModel, Device, Installation, User

# A bridge pings every 10 s; without news for this long its devices count as offline.
OFFLINE_AFTER = timedelta(seconds=30)
TOKEN_PREFIX = "tmlb_"
CAMERA_PLACEHOLDER = "./camera-images"


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Bridges


def create_bridge(session: Session, owner: User, name: str) -> tuple[Bridge, str]:
    """A new bridge and its token (returned once; only its hash is stored)."""
    name = name.strip()
    if not name:
        raise BadRequest("give the bridge a name, e.g. the computer's name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    bridge = Bridge(owner_id=owner.id, name=name, token_sha256=token_sha256(token))
    session.add(bridge)
    session.flush()
    return bridge, token


@dataclass(frozen=True)
class BridgeCommands:
    """What to paste on the machine the boards are plugged into."""

    command: str  # with the boards it finds
    virtual_command: str  # with one virtual board fed by a folder of camera images


def bridge_commands(server: str, bridge: Bridge, token: str) -> BridgeCommands:
    """The command lines that start this bridge: with real boards, and with one virtual board."""
    command = shlex.join(
        ["tinymlaas", "bridge", "--server", server, "--token", token, "--name", bridge.name]
    )
    virtual = f"{command} --virtual-devices 1 --virtual-camera {CAMERA_PLACEHOLDER}"
    return BridgeCommands(command=command, virtual_command=virtual)


def get_bridge(session: Session, owner: User, bridge_id: int) -> Bridge:
    bridge = repository.get_bridge(session, owner.id, bridge_id)
    if bridge is None:
        raise NotFound(f"bridge {bridge_id} not found")
    return bridge


def authenticate_bridge(session: Session, token: str) -> Bridge | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    return repository.bridge_by_token(session, token_sha256(token))


def bridge_online(bridge: Bridge, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return bool(bridge.connected and bridge.last_seen and now - bridge.last_seen < OFFLINE_AFTER)


def describe_bridge(bridge: Bridge) -> BridgeRead:
    return BridgeRead(
        id=bridge.id,
        name=bridge.name,
        status="online" if bridge_online(bridge) else "offline",
        last_seen=bridge.last_seen,
        hostname=bridge.hostname,
        version=bridge.version,
        created_at=bridge.created_at,
    )


def delete_bridge(session: Session, bridge: Bridge) -> None:
    """Revoke the token: the bridge's connection is closed and its devices go with it."""
    session.delete(bridge)
    session.flush()


# Devices


def get_device(session: Session, owner: User, device_id: int) -> Device:
    device = repository.get_device(session, owner.id, device_id)
    if device is None:
        raise NotFound(f"device {device_id} not found")
    return device


def device_status(device: Device, bridge: Bridge | None, now: datetime | None = None) -> str:
    if bridge is None or not device.present or not bridge_online(bridge, now):
        return "offline"
    return "busy" if device.busy else "online"


def describe_devices(session: Session, devices: Sequence[Device]) -> list[DeviceRead]:
    bridges = repository.bridges_by_id(session, {device.bridge_id for device in devices})
    now = utcnow()
    counts = review_counts.summaries(
        session, [device.id for device in devices], review_counts.now()
    )
    return [
        DeviceRead(
            id=device.id,
            bridge_id=device.bridge_id,
            name=device.name,
            board=device.board,
            port=device.port,
            serial_number=device.serial_number,
            status=device_status(device, bridges.get(device.bridge_id), now),
            installed=(
                Installed(
                    compiled_id=device.installed_compiled_id, installed_at=device.installed_at
                )
                if device.installed_compiled_id is not None
                else None
            ),
            running_model_id=device.running_model_id,
            virtual=device.virtual,
            last_seen=device.last_seen,
            dropped_predictions=device.dropped_predictions,
            review_capture=counts[device.id],
        )
        for device in devices
    ]


def update_device(session: Session, device: Device, changes: DeviceUpdate) -> Device:
    values = changes.model_dump(exclude_unset=True)
    if values.get("name"):
        device.name = values["name"]
    if values.get("board"):
        try:
            device.board = get_board(values["board"]).id
        except UnknownBoard as exc:
            raise BadRequest(str(exc)) from exc
    session.flush()
    return device


# What a bridge reports


@dataclass(frozen=True)
class PortReport:
    port: str
    serial_number: str | None
    vid: int | None
    pid: int | None
    description: str
    board: str | None
    virtual: bool


def report_ports(session: Session, bridge: Bridge, ports: Sequence[PortReport]) -> None:
    """The bridge's full list of plugged-in boards: add new ones, mark the rest unplugged."""
    now = utcnow()
    known = {device.identity: device for device in repository.bridge_devices(session, bridge.id)}
    present = set()
    for report in ports:
        identity = report.serial_number or f"port:{report.port}"
        present.add(identity)
        device = known.get(identity)
        if device is None:
            device = Device(
                owner_id=bridge.owner_id,
                bridge_id=bridge.id,
                identity=identity,
                name=report.description or report.port,
                board=report.board,
            )
            session.add(device)
        device.port = report.port
        device.serial_number = report.serial_number
        device.vid, device.pid = report.vid, report.pid
        device.description = report.description
        device.virtual = report.virtual
        device.present = True
        device.last_seen = now
        if device.board is None:
            device.board = report.board
    for identity, device in known.items():
        if identity not in present:
            device.present = False
            device.busy = False
    bridge.last_seen = now
    session.flush()


def touch_bridge(session: Session, bridge: Bridge) -> None:
    now = utcnow()
    bridge.last_seen = now
    bridge.connected = True
    for device in repository.bridge_devices(session, bridge.id):
        if device.present:
            device.last_seen = now
    session.flush()


def record_hello(session: Session, bridge: Bridge, port: str, hello: Hello) -> None:
    device = repository.device_on_port(session, bridge.id, port)
    if device is not None:
        device.running_model_id = hello.model_id
        if device.board is None:
            device.board = hello.board
        session.flush()


def record_dropped(session: Session, bridge: Bridge, dropped: dict[str, int]) -> None:
    """Count the predictions the bridge reports it dropped, on the devices of those ports."""
    for port, count in dropped.items():
        device = repository.device_on_port(session, bridge.id, port) if count > 0 else None
        if device is not None:
            device.dropped_predictions += count
    session.flush()


# Installing


def install_fit(board: Board, compiled: CompiledModel) -> FitVerdict:
    """Whether a compiled model fits a board (its input buffer from the model's input tensor)."""
    spec = compiled.input or {}
    shape = spec.get("shape") or [1, 1, 1, 1]
    input_bytes = 1
    for size in shape[1:]:
        input_bytes *= int(size)
    if spec.get("dtype") == "float32":
        input_bytes *= 4
    return fit(
        board,
        model_bytes=compiled.tflite_bytes or 0,
        arena_bytes=compiled.arena_bytes or 0,
        input_bytes=input_bytes,
        channels=int(shape[-1]),
    )


@dataclass(frozen=True)
class InstallCheck:
    """Whether a compiled model can be installed on a device and, if not, why.

    `fit` is the verdict against the device's board (None while the board is unknown), shown
    even when another problem refuses the install.
    """

    problem: InstallProblem | None
    reason: str | None
    fit: FitVerdict | None

    @property
    def allowed(self) -> bool:
        return self.problem is None


def _board_name(board_id: str) -> str:
    board = BOARDS.get(board_id)
    return f"{board.name} ({board_id})" if board else board_id


def check_install(device: Device, compiled: CompiledModel, *, force: bool = False) -> InstallCheck:
    """The rules an install must pass, in the order they are reported (device state aside).

    A model compiled for another board is refused unless the device is virtual (it runs any
    board's model in TFLite-Micro) or `force` is set; a model that cannot fit is refused
    whatever `force` says, and reported first, since forcing would not help.
    """
    if compiled.status != JobStatus.succeeded:
        reason = f"compiled model {compiled.id} is not ready ({compiled.status})"
        return InstallCheck("not_ready", reason, None)
    if device.board is None:
        reason = f"device {device.id}'s board is unknown: set it with PATCH /devices/{device.id}"
        return InstallCheck("unknown_board", reason, None)
    board = BOARDS.get(device.board)
    if board is None:
        reason = (
            f"device {device.id}'s board {device.board!r} is not in the catalog:"
            f" set it with PATCH /devices/{device.id}"
        )
        return InstallCheck("unknown_board", reason, None)
    verdict = install_fit(board, compiled)
    if not verdict.fits:
        reason = f"compiled model {compiled.id} does not fit {board.name}: " + verdict.detail[
            "summary"
        ].removeprefix("does not fit: ")
        return InstallCheck("does_not_fit", reason, verdict)
    if compiled.board != device.board and not device.virtual and not force:
        reason = (
            f"compiled model {compiled.id} was compiled for {_board_name(compiled.board)},"
            f" but device {device.id}'s board is {_board_name(device.board)}: compile the model for"
            f" {device.board}, or force the install"
        )
        return InstallCheck("other_board", reason, verdict)
    return InstallCheck(None, None, verdict)


def request_install(
    session: Session, owner: User, device: Device, compiled: CompiledModel, *, force: bool = False
) -> Installation:
    """Check that the model can go on the device, then queue the install for its bridge."""
    check = check_install(device, compiled, force=force)
    if check.problem in ("not_ready", "unknown_board"):
        raise BadRequest(str(check.reason))
    if check.problem == "does_not_fit" and check.fit is not None:
        raise Conflict(
            str(check.reason), ram=check.fit.detail["ram"], flash=check.fit.detail["flash"]
        )
    if check.problem == "other_board":
        raise Conflict(str(check.reason), compiled_board=compiled.board, device_board=device.board)
    bridge = repository.bridges_by_id(session, {device.bridge_id}).get(device.bridge_id)
    if device_status(device, bridge) == "offline":
        raise Conflict(f"device {device.id} is offline: start its bridge or plug it in")
    job = jobs.create_job(session, owner, JobKind.install)
    installation = Installation(
        owner_id=owner.id, device_id=device.id, compiled_id=compiled.id, job_id=job.id
    )
    session.add(installation)
    session.flush()
    return installation
