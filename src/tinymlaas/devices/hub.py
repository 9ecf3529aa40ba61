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

import anyio
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.compiling import repository as compiled_repository
from tinymlaas.db.base import utcnow
from tinymlaas.db.session import transaction
from tinymlaas.devices import ingest, install_relay, job_reports, messages, repository, service
from tinymlaas.devices.capturing import relay as capture_relay
from tinymlaas.devices.messages import CANCEL_INSTALL
from tinymlaas.devices.prediction_queue import PredictionQueue
from tinymlaas.devices.review_capture import ReviewCapture
from tinymlaas.devices.testing import relay
from tinymlaas.enums import JobStatus
from tinymlaas.hardware.serial_protocol import Hello
from tinymlaas.jobs import repository as jobs_repository
from tinymlaas.jobs import service as jobs
from tinymlaas.models import Bridge, Device, Installation, Job

log = logging.getLogger(__name__)
# c_library.zip exists for engine "c" only: a virtual device runs its generated C.
INSTALL_FILES = ("model.tflite", "manifest.json", "arduino_library.zip", "c_library.zip")
POLL_SECONDS = 0.5
DRAIN_SECONDS = 10.0  # a closing connection waits this long for its predictions to be stored


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
        # Device tests the bridge was asked to stop.
        self.test_cancels: set[int] = set()
        # Both the receiving loop (errors) and the dispatcher (installs) send.
        self.sending = asyncio.Lock()
        settings = websocket.app.state.settings
        # Doubtful predictions' frames, asked of the bridge for review (review_capture.py).
        self.review = ReviewCapture(factory, bridge_id, settings)
        self.predictions = PredictionQueue(
            self._store_predictions,
            settings.observation_batch_size,
            settings.observation_flush_ms / 1000,
            settings.observation_queue_size,
        )

    async def run(self) -> None:
        await self._db(self._connected)
        await self._send(messages.Welcome(bridge_id=self.bridge_id))
        dispatcher = asyncio.create_task(self._dispatch_loop())
        storing = asyncio.create_task(self.predictions.run())
        try:
            while True:
                raw = await self._receive()
                try:
                    message = messages.parse_bridge_message(raw)
                except messages.InvalidMessage as error:
                    # Ignored, and the bridge told why: one bad message never drops a bridge.
                    log.warning("bridge %s: %s", self.bridge_id, error)
                    await self._send(messages.Error(detail=str(error)))
                    continue
                try:
                    await self._receive_message(message)
                except Exception:
                    if not self._connected_still():
                        raise
                    # Nor does one the server fails on: it is logged, and the bridge told.
                    log.exception("bridge %s: could not handle a %s", self.bridge_id, message.type)
                    detail = f"{message.type}: the server failed to handle it; ignored"
                    await self._send(messages.Error(detail=detail))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            dispatcher.cancel()
            with anyio.CancelScope(shield=True):  # what was received is stored, then the rest
                with anyio.move_on_after(DRAIN_SECONDS):
                    await self.predictions.drain()
                storing.cancel()
                await self._db(self._disconnected)

    async def _receive_message(self, message: messages.BridgeMessage) -> None:
        if isinstance(message, messages.Prediction):
            await self.predictions.put(ingest.Received(message, utcnow()))
            return
        if not isinstance(message, messages.Ping):  # after the predictions before it
            await self.predictions.drain()
        if isinstance(message, job_reports.JOB_REPORTS):
            refused = await self._db(self._job_report, message)
            if refused is not None:
                log.warning("bridge %s: %s", self.bridge_id, refused)
                await self._send(messages.Error(detail=refused))
        else:
            await self._db(self._handle, message)
            await self._review(message)

    def _connected_still(self) -> bool:
        return WebSocketState.DISCONNECTED not in (
            self.websocket.client_state,
            self.websocket.application_state,
        )

    async def _receive(self) -> str | bytes:
        """The next text or binary frame's data."""
        event = await self.websocket.receive()
        if event["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(event.get("code", 1000), event.get("reason"))
        data: str | bytes | None = event.get("text")
        if data is None:
            data = event.get("bytes") or b""
        return data

    async def _send(self, message: messages.Message) -> None:
        async with self.sending:
            await self.websocket.send_text(messages.encode(message))

    async def _db(self, function: Any, *args: Any) -> Any:
        return await run_in_threadpool(function, *args)

    # Incoming messages

    def _handle(self, message: messages.BridgeMessage) -> None:
        with transaction(self.factory) as session:
            bridge = session.get(Bridge, self.bridge_id)
            if bridge is None:
                return
            match message:
                case messages.Hello():
                    bridge.hostname = message.hostname[:255]
                    bridge.version = message.version[:50]
                    self.features = frozenset(message.features or ())
                    self.version = bridge.version
                    service.touch_bridge(session, bridge)
                case messages.Ping():
                    service.touch_bridge(session, bridge)
                    service.record_dropped(session, bridge, message.dropped or {})
                case messages.Ports():
                    service.report_ports(session, bridge, [_port_report(p) for p in message.ports])
                case messages.DeviceHello():
                    service.record_hello(session, bridge, message.port, _hello(message))
                case messages.DeviceError():
                    log.info("bridge %s device %s: %s", self.bridge_id, message.port, message)

    async def _store_predictions(self, batch: list[ingest.Received]) -> None:
        """One transaction for a batch; then the review of those a capture rule may keep."""

        def store() -> ingest.Stored:
            with transaction(self.factory) as session:
                return ingest.store_predictions(session, self.bridge_id, batch)

        stored = await self._db(store)
        for received in batch:
            if received.message.port in stored.review_ports:
                await self._review(received.message)

    async def _review(self, message: messages.BridgeMessage) -> None:
        """Ask the bridge for the frame of a prediction kept for review; store frames it sends."""
        if not self.review.concerns(message, self.features):
            return
        request = await self._db(self.review.handle, message, self.features)
        if request is not None:
            await self._send(request)

    def _job_report(self, message: job_reports.JobReport) -> str | None:
        """What a bridge reports of an install, a device test or a capture: stored if the job is
        this bridge's and running, else the error's detail (`job_reports.refusal`)."""
        job_id = message.job_id
        if isinstance(message, messages.InstallResult | messages.CaptureResult):
            self.in_flight.discard(job_id)  # its end, whether or not it is accepted
        cancel_sent = self.cancels.pop(job_id, None) if message.type == "install_result" else None
        with transaction(self.factory) as session:
            if session.get(Bridge, self.bridge_id) is None:
                return None
            refused = job_reports.refusal(session, self.bridge_id, message)
            if refused is not None:
                return refused
            match message:
                case messages.InstallLog():
                    install_relay.record_log(session, message)
                case messages.InstallResult():
                    cannot = self._cannot_cancel()
                    install_relay.record_result(session, message, cancel_sent, cannot)
                case messages.DeviceTestProgress() | messages.DeviceTestResult():
                    relay.record(session, message)
                case messages.CaptureFrame():
                    settings = self.websocket.app.state.settings
                    return capture_relay.record_frame(session, message, settings)
                case messages.CaptureResult():
                    capture_relay.record_result(session, message)
        return None

    def _cannot_cancel(self) -> str:
        version = f" (version {self.version})" if self.version else ""
        return f"this bridge{version} cannot stop an install (update it)"

    # Outgoing installs

    async def _dispatch_loop(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                alive, outgoing = await self._db(self._outgoing)
            except Exception:
                log.exception("bridge %s: dispatch failed", self.bridge_id)
                continue
            if not alive:
                await self._send(messages.Revoked())
                await self.websocket.close(code=1008, reason="bridge token revoked")
                return
            for message in outgoing:
                await self._send(message)

    def _outgoing(self) -> tuple[bool, list[messages.Message]]:
        """Renew the leases, then pick up cancels and new installs; False if revoked."""
        outgoing: list[messages.Message] = []
        with transaction(self.factory) as session:
            if session.get(Bridge, self.bridge_id) is None:
                return False, []
            for job_id in list(self.in_flight):
                jobs_repository.heartbeat(session, job_id, self.worker)
            cancels = self._notice_cancels(session)
            # One install at a time per device, and none while a test or capture has the port.
            for installation, device in install_relay.claim_installs(
                session, self.bridge_id, self.worker
            ):
                outgoing.append(self._install_message(session, installation, device))
                self.in_flight.add(installation.job_id)
            outgoing += relay.outgoing_tests(session, self.bridge_id, self.features, self.version)
            outgoing += relay.outgoing_cancels(
                session, self.bridge_id, self.features, self.test_cancels
            )
            captures, claimed = capture_relay.outgoing_captures(
                session, self.bridge_id, self.features, self.version, self.worker
            )
            outgoing += captures
            self.in_flight.update(claimed)
        # Remembered once committed, so that a round that failed is tried again.
        self.cancels.update(cancels)
        outgoing += [
            messages.CancelInstall(job_id=job_id) for job_id, sent in cancels.items() if sent
        ]
        return True, outgoing

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
    ) -> messages.Install:
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
        return messages.Install(
            job_id=installation.job_id,
            port=device.port,
            board=device.board or "",  # installs are refused for a device of unknown board
            model_id=model_id,
            files=files,
        )

    # Connection state

    def _connected(self) -> None:
        with transaction(self.factory) as session:
            bridge = session.get_one(Bridge, self.bridge_id)
            service.touch_bridge(session, bridge)

    def _disconnected(self) -> None:
        with transaction(self.factory) as session:
            repository.mark_bridge_gone(session, self.bridge_id)
            relay.bridge_gone(session, self.bridge_id)
            capture_relay.bridge_gone(session, self.bridge_id)
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


def _port_report(port: messages.Port) -> service.PortReport:
    return service.PortReport(
        port=port.port,
        serial_number=port.serial_number,
        vid=port.vid,
        pid=port.pid,
        description=port.description,
        board=port.board,
        virtual=port.virtual,
    )


def _hello(message: messages.DeviceHello) -> Hello:
    return Hello(
        model_id=message.model_id,
        board=message.board,
        labels=tuple(message.labels),
        input_shape=message.input_shape,
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
