"""The server end of a bridge's WebSocket: device reports in, installs out (API process).

Everything goes through the database, so any API process can hold a bridge's connection and
any other process sees the same devices, observations and install jobs. The messages are
described in docs/serial-protocol.md ("The bridge's WebSocket").
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.compiling import repository as compiled_repository
from tinymlaas.db.base import utcnow
from tinymlaas.db.session import transaction
from tinymlaas.devices import repository, service
from tinymlaas.enums import JobStatus
from tinymlaas.hardware.serial_protocol import Hello, Prediction
from tinymlaas.jobs import repository as jobs_repository
from tinymlaas.jobs import service as jobs
from tinymlaas.models import Bridge, Device, Installation, Job

log = logging.getLogger(__name__)
INSTALL_FILES = ("model.tflite", "manifest.json", "arduino_library.zip")
POLL_SECONDS = 0.5
MAX_LOG_CHARS = 200_000
# A bridge that lists this feature in its hello stops an install when sent `cancel_install`.
CANCEL_INSTALL = "cancel_install"


class BridgeConnection:
    """One connected bridge, for as long as its WebSocket lives."""

    def __init__(
        self, websocket: WebSocket, factory: sessionmaker[Session], bridge_id: int
    ) -> None:
        self.websocket = websocket
        self.factory = factory
        self.bridge_id = bridge_id
        self.worker = f"bridge-{bridge_id}@{socket.gethostname()}:{os.getpid()}"
        self.in_flight: set[int] = set()
        # From the bridge's hello (None before it): what it understands beyond the first
        # version of the messages.
        self.features: frozenset[str] | None = None
        self.version = ""
        # Jobs whose cancel was noticed: True if the bridge was asked to stop, False if it cannot.
        self.cancels: dict[int, bool] = {}

    async def run(self) -> None:
        await self._db(self._connected)
        await self.websocket.send_json({"type": "welcome", "bridge_id": self.bridge_id})
        dispatcher = asyncio.create_task(self._dispatch_loop())
        try:
            while True:
                message = await self.websocket.receive_json()
                await self._db(self._handle, message)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            dispatcher.cancel()
            await self._db(self._disconnected)

    async def _db(self, function: Any, *args: Any) -> Any:
        return await run_in_threadpool(function, *args)

    # Incoming messages

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        with transaction(self.factory) as session:
            bridge = session.get(Bridge, self.bridge_id)
            if bridge is None:
                return
            if kind == "hello":
                bridge.hostname = str(message.get("hostname", ""))[:255]
                bridge.version = str(message.get("version", ""))[:50]
                features = message.get("features")
                self.features = frozenset(
                    str(item) for item in (features if isinstance(features, list) else [])
                )
                self.version = bridge.version
                service.touch_bridge(session, bridge)
            elif kind == "ping":
                service.touch_bridge(session, bridge)
            elif kind == "ports":
                reports = [
                    service.PortReport(
                        port=str(item["port"]),
                        serial_number=item.get("serial_number"),
                        vid=item.get("vid"),
                        pid=item.get("pid"),
                        description=str(item.get("description", "")),
                        board=item.get("board"),
                        virtual=bool(item.get("virtual", False)),
                    )
                    for item in message.get("ports", [])
                ]
                service.report_ports(session, bridge, reports)
            elif kind == "device_hello":
                hello = Hello(
                    model_id=str(message["model_id"]),
                    board=str(message.get("board", "")),
                    labels=tuple(message.get("labels", [])),
                    input_shape=tuple(message.get("input_shape", (0, 0, 0))),
                )
                service.record_hello(session, bridge, str(message["port"]), hello)
            elif kind == "prediction":
                prediction = Prediction(
                    seq=int(message.get("seq", 0)),
                    label=str(message["label"]),
                    scores={str(k): float(v) for k, v in dict(message["scores"]).items()},
                    latency_ms=float(message.get("latency_ms", 0.0)),
                    source=message.get("source"),
                )
                service.record_prediction(session, bridge, str(message["port"]), prediction)
            elif kind == "install_log":
                self._install_log(session, int(message["job_id"]), str(message["line"]))
            elif kind == "install_result":
                self._install_result(session, int(message["job_id"]), message)
            elif kind == "device_error":
                log.info("bridge %s device %s: %s", self.bridge_id, message.get("port"), message)

    def _install_log(self, session: Session, job_id: int, line: str) -> None:
        installation = repository.installation_by_job(session, job_id)
        job = session.get(Job, job_id)
        if installation is None or job is None or job.status != JobStatus.running:
            return
        installation.output = (installation.output + line + "\n")[-MAX_LOG_CHARS:]
        if not job.cancel_requested:  # keep saying what became of the cancel
            job.message = line[:500]
        jobs_repository.add_event(session, job_id, "log", {"line": line})

    def _install_result(self, session: Session, job_id: int, message: dict[str, Any]) -> None:
        self.in_flight.discard(job_id)
        cancel_sent = self.cancels.pop(job_id, None)
        installation = repository.installation_by_job(session, job_id)
        job = session.get(Job, job_id)
        if installation is None or job is None or job.status != JobStatus.running:
            return
        ok, output = bool(message["ok"]), str(message["output"])
        installation.output = output[-MAX_LOG_CHARS:]
        device = session.get(Device, installation.device_id)
        if device is not None:
            device.busy = False
            if ok:
                device.installed_compiled_id = installation.compiled_id
                device.installed_at = utcnow()
        if message.get("cancelled") and not ok:
            state = str(message.get("device_state") or "the board's state is unknown")
            jobs.finish(session, job, JobStatus.cancelled, message=f"cancelled: {state}"[:500])
            return
        if cancel_sent is False:
            late = f"; the cancel could not be delivered: {self._cannot_cancel()}"
        elif job.cancel_requested:
            late = "; the cancel came too late: the install had already finished on the bridge"
        else:
            late = ""
        if ok:
            jobs.finish(session, job, JobStatus.succeeded, message=f"installed{late}"[:500])
        else:
            tail = output.strip()[-4000:] or "the installer gave no output"
            jobs.finish(
                session, job, JobStatus.failed, message=f"install failed{late}"[:500], error=tail
            )

    def _cannot_cancel(self) -> str:
        version = f" (version {self.version})" if self.version else ""
        return f"this bridge{version} cannot stop an install (update it)"

    # Outgoing installs

    async def _dispatch_loop(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                alive, messages = await self._db(self._outgoing)
            except Exception:
                log.exception("bridge %s: dispatch failed", self.bridge_id)
                continue
            if not alive:
                await self.websocket.send_json({"type": "revoked"})
                await self.websocket.close(code=1008, reason="bridge token revoked")
                return
            for message in messages:
                await self.websocket.send_json(message)

    def _outgoing(self) -> tuple[bool, list[dict[str, Any]]]:
        """Renew the leases, then pick up cancels and new installs; False if revoked."""
        messages = []
        with transaction(self.factory) as session:
            if session.get(Bridge, self.bridge_id) is None:
                return False, []
            for job_id in list(self.in_flight):
                jobs_repository.heartbeat(session, job_id, self.worker)
            cancels = self._notice_cancels(session)
            # One install at a time per device: the next one waits until the board is free.
            installing = repository.devices_installing(session, self.bridge_id)
            for installation, device in repository.queued_installs(session, self.bridge_id):
                if device.id in installing:
                    continue
                if not jobs_repository.claim(session, installation.job_id, self.worker):
                    continue
                installing.add(device.id)
                device.busy = True
                messages.append(self._install_message(session, installation, device))
                self.in_flight.add(installation.job_id)
                jobs_repository.add_event(
                    session, installation.job_id, "state", {"status": JobStatus.running}
                )
        # Remembered once committed, so that a round that failed is tried again.
        self.cancels.update(cancels)
        messages += [
            {"type": CANCEL_INSTALL, "job_id": job_id} for job_id, sent in cancels.items() if sent
        ]
        return True, messages

    def _notice_cancels(self, session: Session) -> dict[int, bool]:
        """Installs whose cancel was requested, each with whether the bridge can be asked."""
        if self.features is None:  # before the bridge's hello
            return {}
        cancels = {}
        for job_id in repository.cancel_requested_jobs(session, self.in_flight - set(self.cancels)):
            sent = cancels[job_id] = CANCEL_INSTALL in self.features
            if sent:
                message = "cancelling: the bridge was asked to stop the installer"
            else:
                message = f"cannot cancel: {self._cannot_cancel()}; it runs to its end"
            # Unless its result was recorded meanwhile (the receiving side runs concurrently).
            if repository.set_running_job_message(session, job_id, message[:500]):
                jobs_repository.add_event(
                    session,
                    job_id,
                    "state",
                    {"status": JobStatus.running, "cancelling": True, "message": message},
                )
        return cancels

    def _install_message(
        self, session: Session, installation: Installation, device: Device
    ) -> dict[str, Any]:
        store = DatabaseBlobStore(session)
        files: dict[str, str] = {}
        model_id = ""
        for name in INSTALL_FILES:
            row = compiled_repository.file(session, installation.compiled_id, name)
            if row is None:
                continue
            files[name] = base64.b64encode(store.get(row.sha256)).decode()
            if name == "manifest.json":
                model_id = row.sha256
        return {
            "type": "install",
            "job_id": installation.job_id,
            "port": device.port,
            "board": device.board,
            "model_id": model_id,
            "files": files,
        }

    # Connection state

    def _connected(self) -> None:
        with transaction(self.factory) as session:
            bridge = session.get_one(Bridge, self.bridge_id)
            service.touch_bridge(session, bridge)

    def _disconnected(self) -> None:
        with transaction(self.factory) as session:
            repository.mark_bridge_gone(session, self.bridge_id)
            for job_id in self.in_flight:
                job = session.get(Job, job_id)
                if job is not None and job.status == JobStatus.running:
                    cancel = " before confirming the cancel" if self.cancels.get(job_id) else ""
                    jobs.finish(
                        session,
                        job,
                        JobStatus.failed,
                        message="bridge disconnected",
                        error=(
                            f"the bridge disconnected during the install{cancel}; the board"
                            " may still run its previous model"
                        ),
                    )


async def serve_bridge(websocket: WebSocket, factory: sessionmaker[Session]) -> None:
    """Authenticate a bridge by its token, then serve it until it goes away."""
    header = websocket.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip()

    def authenticate() -> int | None:
        with transaction(factory) as session:
            bridge = service.authenticate_bridge(session, token)
            return bridge.id if bridge else None

    bridge_id = await run_in_threadpool(authenticate)
    if bridge_id is None:
        await websocket.close(code=1008, reason="invalid bridge token")
        return
    await websocket.accept()
    await BridgeConnection(websocket, factory, bridge_id).run()
