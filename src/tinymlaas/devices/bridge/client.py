"""The bridge process: connects out to the server, reports boards, forwards predictions, installs.

Serial ports are read in threads (pyserial blocks); everything that talks to the server runs
on one asyncio loop and is fed through a queue.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import platform
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import websockets

from tinymlaas import __version__
from tinymlaas.devices import messages
from tinymlaas.devices.bridge.cancellation import Cancellation
from tinymlaas.devices.bridge.capture import FrameUnavailable, to_png
from tinymlaas.devices.bridge.discovery import PortInfo, PortWatcher, list_serial_ports
from tinymlaas.devices.bridge.frames import answer_fetch, review_frame
from tinymlaas.devices.bridge.install import InstallRequest, InstallResult
from tinymlaas.devices.bridge.installers import installer_for
from tinymlaas.devices.bridge.outbox import Outbox
from tinymlaas.devices.bridge.sessions import PortSessions
from tinymlaas.devices.bridge.transports import SerialTransport, TransportError, handshake
from tinymlaas.devices.bridge.virtual import VirtualDevice
from tinymlaas.hardware.boards import get_board
from tinymlaas.hardware.serial_frames import CameraFrame
from tinymlaas.hardware.serial_protocol import DeviceError, Hello, LineReader, Prediction

log = logging.getLogger(__name__)
PING_SECONDS = 10.0
SCAN_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 30.0
OUTBOX_SIZE = 10_000
# What this bridge understands beyond the first version of the protocol (sent in its hello).
FEATURES = (
    messages.CANCEL_INSTALL,
    messages.FETCH_FRAME,
    messages.DEVICE_TEST,
    messages.CAPTURE,
    messages.CANCEL_DEVICE_TEST,
)


def websocket_url(server: str) -> str:
    """http(s)://host/prefix → ws(s)://host/prefix/api/v1/bridges/connect."""
    parts = urlsplit(server if "://" in server else f"http://{server}")
    scheme = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}[parts.scheme]
    path = parts.path.rstrip("/") + "/api/v1/bridges/connect"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


@dataclass
class PortReader:
    """Reads one board's serial port in a thread and hands its messages to the loop."""

    port: str
    emit: Callable[[messages.Message], None]
    stop_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"port {self.port}")
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def _run(self) -> None:
        while not self.stop_event.is_set():
            transport = SerialTransport(self.port)
            try:
                transport.open()
                hello = handshake(transport)
                if hello is not None:
                    self._forward(hello)
                reader = LineReader()
                while not self.stop_event.is_set():
                    for message in reader.feed(transport.read(0.2)):
                        self._forward(message)
            except TransportError as exc:
                log.info("port %s: %s", self.port, exc)
                self.stop_event.wait(1.0)
            finally:
                transport.close()

    def _forward(self, message: object) -> None:
        if isinstance(message, Hello):
            self.emit(
                messages.DeviceHello(
                    port=self.port,
                    model_id=message.model_id,
                    board=message.board,
                    labels=list(message.labels),
                    input_shape=message.input_shape,
                )
            )
        elif isinstance(message, Prediction):
            self.emit(
                messages.Prediction(
                    port=self.port,
                    seq=message.seq,
                    label=message.label,
                    scores=message.scores,
                    latency_ms=message.latency_ms,
                    source=message.source,
                    at=datetime.now(UTC),
                )
            )
        elif isinstance(message, DeviceError):
            self.emit(messages.DeviceError(port=self.port, message=message.message))


class Bridge:
    """Keeps a connection to the server and serves it until stopped."""

    def __init__(
        self,
        server: str,
        token: str,
        name: str,
        virtual_devices: Sequence[VirtualDevice] = (),
        list_ports: Callable[[], list[PortInfo]] = list_serial_ports,
    ) -> None:
        self.url = websocket_url(server)
        self.token = token
        self.name = name
        self.virtual = {device.port: device for device in virtual_devices}
        self.watcher = PortWatcher(lambda: list_ports() + self._virtual_ports())
        self.readers: dict[str, PortReader] = {}
        self.ports: dict[str, PortInfo] = {}
        self.stopped = asyncio.Event()
        # Messages for the server; bounded (the oldest prediction makes room, see outbox.py).
        self.outbox = Outbox(OUTBOX_SIZE)
        self.loop: asyncio.AbstractEventLoop | None = None
        # Installs in progress by job id, until their result is queued for the server.
        self.installs: dict[int, Cancellation] = {}
        # The tasks running them (the loop itself keeps only weak references to tasks).
        self.install_tasks: set[asyncio.Task[None]] = set()
        self.frame_tasks: set[asyncio.Task[None]] = set()  # answering `fetch_frame`
        # Device tests, captures and last frames: work that needs a board's port to itself.
        self.sessions = PortSessions(self._release_port, self._resume_port, self.emit)

    def emit(self, message: messages.Message) -> None:
        """Queue a message for the server (thread-safe)."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.outbox.put, message)

    def _virtual_ports(self) -> list[PortInfo]:
        return [device.port_info() for device in self.virtual.values()]

    async def run_forever(self) -> None:
        """Connect, serve, and reconnect with backoff until stopped or the token is refused."""
        self.loop = asyncio.get_running_loop()
        scanner = asyncio.create_task(self._scan())
        connector = asyncio.create_task(self._connect_loop())
        stopper = asyncio.create_task(self.stopped.wait())
        done, _ = await asyncio.wait({connector, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (scanner, connector, stopper):
            task.cancel()
        if connector in done:
            connector.result()  # a refused token ends the bridge with its error

    async def _connect_loop(self) -> None:
        backoff = 1.0
        while not self.stopped.is_set():
            try:
                async with websockets.connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {self.token}"},
                    max_size=64 * 2**20,
                    ping_interval=20,
                ) as connection:
                    backoff = 1.0
                    log.info("connected to %s", self.url)
                    if not await self._serve(connection):
                        raise SystemExit(2)
            except websockets.InvalidStatus as exc:
                if exc.response.status_code in (401, 403):
                    log.error("the server refused this bridge's token")
                    raise SystemExit(2) from exc
                log.warning("server answered %s", exc.response.status_code)
            except (TimeoutError, OSError, websockets.ConnectionClosed) as exc:
                log.warning("connection to %s lost: %s", self.url, exc)
            delay = backoff * (0.5 + random.random())
            log.info("reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)  # run_forever cancels this when the bridge stops
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _serve(self, connection: Any) -> bool:
        """One connection's life; False when the server revoked the bridge."""
        welcome = _read(await connection.recv())
        if not isinstance(welcome, messages.Welcome):
            got = type(welcome).__name__ if welcome is not None else "an unreadable message"
            log.error("expected a welcome from the server, got %s", got)
            return False
        hello = messages.Hello(
            name=self.name, hostname=platform.node(), version=__version__, features=list(FEATURES)
        )
        await connection.send(messages.encode(hello))
        # After a reconnect the server has marked everything unplugged: report it all again.
        await connection.send(messages.encode(self._ports_message()))
        tasks = [
            asyncio.create_task(self._send(connection)),
            asyncio.create_task(self._ping(connection)),
        ]
        try:
            async for raw in connection:
                match _read(raw):
                    case messages.Install() as install:
                        self._start_install(install)
                    case messages.CancelInstall(job_id=job_id):
                        self._cancel_install(job_id)
                    case messages.FetchFrame() as fetch:
                        self._start_fetch_frame(fetch)
                    case (
                        messages.DeviceTest()
                        | messages.DeviceTestImages()
                        | messages.Capture()
                        | messages.CancelDeviceTest()
                    ) as work:
                        self.sessions.handle(work)
                    case messages.Revoked():
                        log.error("the server revoked this bridge's token")
                        return False
                    case messages.Error(detail=detail):
                        log.warning(
                            "the server could not use a message from this bridge: %s", detail
                        )
        finally:
            for task in tasks:
                task.cancel()
        return True

    async def _send(self, connection: Any) -> None:
        while True:
            message = await self.outbox.get()
            try:
                await connection.send(messages.encode(message))
            except websockets.ConnectionClosed:
                self.outbox.put_back(message)  # sent again after the reconnect
                raise

    async def _ping(self, connection: Any) -> None:
        while True:
            await asyncio.sleep(PING_SECONDS)
            ping = self.outbox.ping()
            try:
                await connection.send(messages.encode(ping))
            except websockets.ConnectionClosed:
                self.outbox.give_back_dropped(ping.dropped or {})
                raise

    def _ports_message(self) -> messages.Ports:
        ports = [
            messages.Port(**asdict(info), virtual=info.port in self.virtual)
            for info in self.ports.values()
        ]
        return messages.Ports(ports=ports)

    async def _scan(self) -> None:
        """Notice boards being plugged in and out; each one gets a reader."""
        while True:
            added, removed = await asyncio.to_thread(self.watcher.poll)
            for info in removed:
                self.ports.pop(info.port, None)
                reader = self.readers.pop(info.port, None)
                if reader is not None:
                    await asyncio.to_thread(reader.stop)
            for info in added:
                self.ports[info.port] = info
                reader = PortReader(info.port, self.emit)
                self.readers[info.port] = reader
                reader.start()
            if added or removed:
                self.emit(self._ports_message())
            await asyncio.sleep(SCAN_SECONDS)

    def _start_install(self, message: messages.Install) -> None:
        # Registered before the task runs, so a cancel right behind the install finds it.
        cancellation = Cancellation()
        self.installs[message.job_id] = cancellation
        task = asyncio.create_task(self._install(message, cancellation))
        self.install_tasks.add(task)
        task.add_done_callback(self.install_tasks.discard)

    def _start_fetch_frame(self, message: messages.FetchFrame) -> None:
        """Answer a `fetch_frame` from a thread (a board may take a while to send its frame)."""
        virtual = self.virtual.get(message.port)

        async def fetch() -> None:
            if virtual is None and message.port in self.readers:
                self.emit(await self._board_frame(message))
            else:
                self.emit(await asyncio.to_thread(answer_fetch, virtual, message))

        task = asyncio.create_task(fetch())
        self.frame_tasks.add(task)
        task.add_done_callback(self.frame_tasks.discard)

    async def _board_frame(
        self, message: messages.FetchFrame
    ) -> messages.ReviewFrame | messages.FrameUnavailable:
        """A real board's answer to `fetch_frame`: the input of its latest inference (LAST)."""
        try:
            frame = await self.fetch_last_frame(message.port)
        except (FrameUnavailable, TransportError) as error:
            return messages.FrameUnavailable(
                port=message.port, seq=message.seq, detail=f"the board sent no frame: {error}"
            )
        return review_frame(message, to_png(frame))

    def _cancel_install(self, job_id: int) -> None:
        """Stop an install; its result (cancelled, or real if it had finished) follows."""
        cancellation = self.installs.get(job_id)
        if cancellation is None:
            # Already over: the server has its result, or will get it before it hears from us.
            log.info("cancel of install job %s: it is not running here", job_id)
            return
        log.info("cancelling install job %s", job_id)
        cancellation.cancel()

    async def _install(self, message: messages.Install, cancellation: Cancellation) -> None:
        """Flash a board; the port's reader lets go of it meanwhile (uploads need the port)."""
        job_id, port = message.job_id, message.port

        def line(text: str) -> None:
            self.emit(messages.InstallLog(job_id=job_id, line=text))

        await self._release_port(port)
        try:
            files = {name: base64.b64decode(data) for name, data in message.files.items()}
            board = get_board(message.board)
            installer = installer_for(board, self.virtual, port)
            request = InstallRequest(port=port, board=board, files=files, model_id=message.model_id)
            result = await asyncio.to_thread(installer.install, request, line, cancellation)
        except Exception as exc:  # reported to the server as the install's failure
            log.exception("install on %s failed", port)
            result = InstallResult(False, f"{type(exc).__name__}: {exc}")
        finally:
            self._resume_port(port)
        if result.cancelled:
            outcome = messages.InstallResult(
                job_id=job_id,
                ok=result.ok,
                output=result.output,
                cancelled=True,
                device_state=result.device_state,
            )
        else:  # `cancelled` and `device_state` go on the wire only with a cancelled result
            outcome = messages.InstallResult(job_id=job_id, ok=result.ok, output=result.output)
        self.emit(outcome)
        # A cancel arriving from here on finds nothing to stop: the result above answers it.
        self.installs.pop(job_id, None)

    async def _release_port(self, port: str) -> None:
        """Stop the port's reader: an install or a test needs the port to itself."""
        reader = self.readers.pop(port, None)
        if reader is not None:
            await asyncio.to_thread(reader.stop)

    def _resume_port(self, port: str) -> None:
        if port in self.ports:
            restarted = PortReader(port, self.emit)
            self.readers[port] = restarted
            restarted.start()

    async def fetch_last_frame(self, port: str) -> CameraFrame:
        """The frame of the latest inference of the board at `port` (serial LAST); raises
        FrameUnavailable (the board's reason) or TransportError when there is none."""
        return await self.sessions.fetch_last_frame(port)

    def stop(self) -> None:
        self.stopped.set()
        self.sessions.stop.set()
        # Installers run in sessions of their own, which a Ctrl-C at the terminal does not reach.
        for cancellation in list(self.installs.values()):
            cancellation.cancel()
        for reader in self.readers.values():
            reader.stop()


def _read(raw: str | bytes) -> messages.ServerMessage | None:
    """A message from the server, or None (logged) if this bridge cannot read it."""
    try:
        return messages.parse_server_message(raw)
    except messages.InvalidMessage as error:
        log.warning("ignoring a message from the server: %s", error)
        return None
