"""The server end of a bridge's WebSocket: device reports in, installs out (API process).

Everything goes through the database, so any API process can hold a bridge's connection and
any other process sees the same devices, observations and install jobs.
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
from tinymlaas.devices.protocol import Hello, Prediction
from tinymlaas.jobs import repository as jobs_repository
from tinymlaas.jobs import service as jobs
from tinymlaas.models import Bridge, Device, Installation, Job

log = logging.getLogger(__name__)
INSTALL_FILES = ("model.tflite", "manifest.json", "arduino_library.zip")
POLL_SECONDS = 0.5
MAX_LOG_CHARS = 200_000


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
                self._install_result(
                    session, int(message["job_id"]), bool(message["ok"]), str(message["output"])
                )
            elif kind == "device_error":
                log.info("bridge %s device %s: %s", self.bridge_id, message.get("port"), message)

    def _install_log(self, session: Session, job_id: int, line: str) -> None:
        installation = repository.installation_by_job(session, job_id)
        job = session.get(Job, job_id)
        if installation is None or job is None or job.status != "running":
            return
        installation.output = (installation.output + line + "\n")[-MAX_LOG_CHARS:]
        job.message = line[:500]
        jobs_repository.add_event(session, job_id, "log", {"line": line})

    def _install_result(self, session: Session, job_id: int, ok: bool, output: str) -> None:
        self.in_flight.discard(job_id)
        installation = repository.installation_by_job(session, job_id)
        job = session.get(Job, job_id)
        if installation is None or job is None or job.status != "running":
            return
        installation.output = output[-MAX_LOG_CHARS:]
        device = session.get(Device, installation.device_id)
        if device is not None:
            device.busy = False
            if ok:
                device.installed_compiled_id = installation.compiled_id
                device.installed_at = utcnow()
        if ok:
            jobs.finish(session, job, "succeeded", message="installed")
        else:
            tail = output.strip()[-4000:] or "the installer gave no output"
            jobs.finish(session, job, "failed", message="install failed", error=tail)

    # Outgoing installs

    async def _dispatch_loop(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                alive, installs = await self._db(self._claim_installs)
            except Exception:
                log.exception("bridge %s: dispatch failed", self.bridge_id)
                continue
            if not alive:
                await self.websocket.send_json({"type": "revoked"})
                await self.websocket.close(code=1008, reason="bridge token revoked")
                return
            for install in installs:
                await self.websocket.send_json(install)

    def _claim_installs(self) -> tuple[bool, list[dict[str, Any]]]:
        messages = []
        with transaction(self.factory) as session:
            if session.get(Bridge, self.bridge_id) is None:
                return False, []
            for job_id in list(self.in_flight):
                jobs_repository.heartbeat(session, job_id, self.worker)
            for installation, device in repository.queued_installs(session, self.bridge_id):
                if not jobs_repository.claim(session, installation.job_id, self.worker):
                    continue
                device.busy = True
                messages.append(self._install_message(session, installation, device))
                self.in_flight.add(installation.job_id)
                jobs_repository.add_event(
                    session, installation.job_id, "state", {"status": "running"}
                )
        return True, messages

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
                if job is not None and job.status == "running":
                    jobs.finish(
                        session,
                        job,
                        "failed",
                        message="bridge disconnected",
                        error=(
                            "the bridge disconnected during the install; the board may still"
                            " run its previous model"
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
