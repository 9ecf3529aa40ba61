"""Work that needs a board's port to itself: device tests, captures, the last inferred frame.

The port's reader lets go of the port for the duration (`release`), and reads it again after
(`resume`); the work runs in a thread (pyserial blocks) and reports to the server via `emit`.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from tinymlaas.devices import messages
from tinymlaas.devices.bridge.capture import (
    FRAME_TIMEOUT_SECONDS,
    capture_on_port,
    fetch_last_frame,
)
from tinymlaas.devices.bridge.device_test import TensorFeed, run_device_test
from tinymlaas.devices.bridge.transports import SerialTransport
from tinymlaas.hardware.serial_frames import CameraFrame

log = logging.getLogger(__name__)


class PortSessions:
    """Runs device tests and captures, one task each, and fetches last frames."""

    def __init__(
        self,
        release: Callable[[str], Awaitable[None]],
        resume: Callable[[str], None],
        emit: Callable[[messages.Message], None],
    ) -> None:
        self.release = release
        self.resume = resume
        self.emit = emit
        self.tests: dict[int, TensorFeed] = {}
        self.stop = threading.Event()
        # The loop keeps only weak references to tasks.
        self.tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _exclusive(self, port: str, work: Callable[[], Any], failed: Any) -> Any:
        """Run `work` in a thread with the port to itself; `failed(error)` if it raises."""
        await self.release(port)
        try:
            return await asyncio.to_thread(work)
        except Exception as exc:  # reported to the server as the work's failure
            log.exception("work on %s failed", port)
            return failed(f"{type(exc).__name__}: {exc}")
        finally:
            self.resume(port)

    def handle(
        self,
        message: messages.DeviceTest
        | messages.DeviceTestImages
        | messages.Capture
        | messages.CancelDeviceTest,
    ) -> None:
        """A server message that starts, feeds or stops port work."""
        if isinstance(message, messages.DeviceTest):
            self.start_test(message)
        elif isinstance(message, messages.DeviceTestImages):
            self.test_images(message)
        elif isinstance(message, messages.CancelDeviceTest):
            self.cancel_test(message.job_id)
        else:
            self._spawn(self._capture(message))

    # Device tests

    def start_test(self, message: messages.DeviceTest) -> None:
        try:
            feed = TensorFeed(message.count, message.input_bytes)
        except ValueError as error:
            self.emit(messages.DeviceTestResult(job_id=message.job_id, ok=False, error=str(error)))
            return
        self.tests[message.job_id] = feed
        self._spawn(self._device_test(message, feed))

    def test_images(self, message: messages.DeviceTestImages) -> None:
        feed = self.tests.get(message.job_id)
        if feed is None:
            log.info("images for device test job %s, which is not running", message.job_id)
            return
        try:
            feed.add(message.first, base64.b64decode(message.data))
        except ValueError as error:
            log.warning("device test job %s: %s", message.job_id, error)

    def cancel_test(self, job_id: int) -> None:
        """Stop a test after the image on the board now; its result says it was cancelled."""
        feed = self.tests.get(job_id)
        if feed is None:  # finished meanwhile: its result has been sent
            log.info("cancel for device test job %s, which is not running", job_id)
            return
        feed.cancelled.set()

    async def _device_test(self, message: messages.DeviceTest, feed: TensorFeed) -> None:
        def failed(error: str) -> messages.DeviceTestResult:
            return messages.DeviceTestResult(job_id=message.job_id, ok=False, error=error)

        try:
            result = await self._exclusive(
                message.port,
                lambda: run_device_test(message.port, message, feed, self.emit, self.stop),
                failed,
            )
        finally:
            self.tests.pop(message.job_id, None)
        self.emit(result)

    # Captures

    async def _capture(self, message: messages.Capture) -> None:
        def failed(error: str) -> messages.CaptureResult:
            return messages.CaptureResult(job_id=message.job_id, ok=False, error=error)

        self.emit(
            await self._exclusive(
                message.port,
                lambda: capture_on_port(message.port, message, self.emit, self.stop),
                failed,
            )
        )

    async def fetch_last_frame(
        self, port: str, timeout: float = FRAME_TIMEOUT_SECONDS
    ) -> CameraFrame:
        """The frame of the board's latest inference (LAST); FrameUnavailable or TransportError
        say why there is none."""

        def fetch() -> CameraFrame:
            with SerialTransport(port) as transport:
                return fetch_last_frame(transport, timeout)

        await self.release(port)
        try:
            return await asyncio.to_thread(fetch)
        finally:
            self.resume(port)
