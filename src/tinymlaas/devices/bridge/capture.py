"""Camera frames from a board (serial protocol version 2): CAPTURE for a new one, LAST for the
frame of its latest inference.

`fetch_frame` and `fetch_last_frame` work on an open transport; `capture_on_port` runs a whole
`capture` request on a port its reader has let go of. Frames travel uncompressed over serial
(a board has no spare RAM or time to compress; bench/README.md has the serial time) and go to
the server as PNG.
"""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
from PIL import Image

from tinymlaas.devices import messages
from tinymlaas.devices.bridge.transports import (
    SerialTransport,
    Transport,
    TransportError,
    handshake,
)
from tinymlaas.hardware.serial_frames import (
    FRAME,
    GRAY8,
    RGB565,
    BinaryFrame,
    CameraFrame,
    CorruptFrame,
    StreamReader,
)
from tinymlaas.hardware.serial_protocol import Capture, LastFrame, TensorError, format_message

# The largest frame a board may send (VGA RGB with room to spare); larger ones are refused.
MAX_FRAME_BYTES = 2 * 2**20
# QCIF gray takes 2.2 s at 115200 baud, QVGA RGB565 13 s.
FRAME_TIMEOUT_SECONDS = 20.0


# Times a capture asks again for a frame damaged on the way (line noise) before it fails.
DAMAGED_FRAME_RETRIES = 2


class FrameUnavailable(RuntimeError):
    """The board sent no frame: it refused (its reason), sent a damaged one, or stayed silent."""


class FrameDamaged(FrameUnavailable):
    """The frame arrived with a bad checksum or length: asking again may well get it whole."""


def fetch_frame(
    transport: Transport,
    request: Capture | LastFrame,
    timeout: float = FRAME_TIMEOUT_SECONDS,
    reader: StreamReader | None = None,
) -> CameraFrame:
    """Ask for a frame and wait for it; FrameUnavailable says why there is none."""
    reader = reader or StreamReader(MAX_FRAME_BYTES)
    transport.write(format_message(request))
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        for item in reader.feed(transport.read(min(remaining, 0.5))):
            if isinstance(item, BinaryFrame) and item.kind == FRAME and item.seq == request.seq:
                try:
                    return CameraFrame.decode(item.payload)
                except ValueError as error:
                    raise FrameUnavailable(f"the board sent a malformed frame: {error}") from None
            if isinstance(item, CorruptFrame) and item.kind == FRAME and item.seq == request.seq:
                raise FrameDamaged(f"the frame was damaged on the way: {item.reason}")
            if isinstance(item, TensorError) and item.seq == request.seq:
                raise FrameUnavailable(f"the board sent no frame: {item.message}")
    raise FrameUnavailable(
        f"the board sent no frame within {timeout:g} s (its sketch may predate camera capture)"
    )


def fetch_last_frame(transport: Transport, timeout: float = FRAME_TIMEOUT_SECONDS) -> CameraFrame:
    """The frame of the board's latest inference (what its latest PRED was about)."""
    return fetch_frame(transport, LastFrame(0), timeout)


def to_png(frame: CameraFrame) -> bytes:
    """A lossless PNG of the frame's pixels."""
    if frame.pixel_format == GRAY8:
        image = Image.frombytes("L", (frame.width, frame.height), frame.pixels)
    elif frame.pixel_format == RGB565:
        # High byte first, as cameras send it; 5/6 bits widened as the sketch's preprocessing does.
        value = np.frombuffer(frame.pixels, ">u2").astype(np.uint32)
        red, green, blue = (value >> 11) & 31, (value >> 5) & 63, value & 31
        rgb = np.stack(
            [(red << 3) | (red >> 2), (green << 2) | (green >> 4), (blue << 3) | (blue >> 2)], -1
        )
        image = Image.fromarray(rgb.astype(np.uint8).reshape(frame.height, frame.width, 3), "RGB")
    else:
        image = Image.frombytes("RGB", (frame.width, frame.height), frame.pixels)
    output = io.BytesIO()
    image.save(output, format="PNG")
    return output.getvalue()


def capture_on_port(
    port: str,
    request: messages.Capture,
    emit: Callable[[messages.Message], None],
    stop: threading.Event,
    transport: Transport | None = None,
) -> messages.CaptureResult:
    """Take `count` frames, `interval_ms` apart, sending each to the server as it comes; a
    frame damaged on the way is asked for again (up to DAMAGED_FRAME_RETRIES times)."""
    job_id, sent = request.job_id, 0

    def failed(error: str) -> messages.CaptureResult:
        return messages.CaptureResult(job_id=job_id, ok=False, error=error, frames=sent)

    transport = transport or SerialTransport(port)
    try:
        transport.open()
        hello = handshake(transport)
        if hello is None:
            return failed(f"the board on {port} does not answer PING")
        if hello.protocol < 2:
            return failed(
                f"the board on {port} speaks serial protocol version {hello.protocol}, which"
                " cannot send camera frames: install a model again to update its sketch"
            )
        reader = StreamReader(MAX_FRAME_BYTES)
        for index in range(request.count):
            if stop.is_set():
                return failed("the bridge stopped during the capture")
            started = time.monotonic()
            frame = _frame_again_if_damaged(transport, index, reader)
            png = base64.b64encode(to_png(frame)).decode()
            emit(
                messages.CaptureFrame(
                    job_id=job_id, index=index, png=png, width=frame.width,
                    height=frame.height, captured_at=datetime.now(UTC),
                )
            )  # fmt: skip
            sent += 1
            wait = request.interval_ms / 1000 - (time.monotonic() - started)
            if wait > 0 and index + 1 < request.count:
                stop.wait(wait)
    except (TransportError, FrameUnavailable) as error:
        return failed(str(error))
    finally:
        transport.close()
    return messages.CaptureResult(job_id=job_id, ok=True, frames=sent)


def _frame_again_if_damaged(transport: Transport, index: int, reader: StreamReader) -> CameraFrame:
    attempts = 0
    while True:
        try:
            return fetch_frame(transport, Capture(index), reader=reader)
        except FrameDamaged as error:
            attempts += 1
            if attempts > DAMAGED_FRAME_RETRIES:
                raise FrameDamaged(f"{error} ({attempts} times)") from None
