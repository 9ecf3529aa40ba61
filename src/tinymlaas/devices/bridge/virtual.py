"""Virtual boards: a model on the bridge's host, speaking the serial protocol on a pty.

The model runs in TFLite-Micro, or as its generated C for `engine: "c"` (`virtual_model.py`).

Each device owns a pseudo-terminal pair. The host opens the slave path with pyserial exactly as
it opens a USB board; the device thread reads PINGs from and writes protocol lines to the
master side. Once a model is "flashed" it loops over its camera images, preprocessing each as
the board sketch does, and prints one PRED line per image with the real invoke latency.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import select
import threading
import time
import tty
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from tinymlaas.devices.bridge.discovery import VIRTUAL_BOARD, PortInfo
from tinymlaas.devices.bridge.frames import KeptFrame
from tinymlaas.devices.bridge.virtual_camera import camera_frame
from tinymlaas.devices.bridge.virtual_model import SEQ_MODULUS, Model, load_model
from tinymlaas.hardware.serial_frames import (
    FRAME,
    TENSOR,
    BinaryFrame,
    CorruptFrame,
    StreamReader,
    encode_frame,
)
from tinymlaas.hardware.serial_protocol import (
    LATEST_PROTOCOL,
    NO_MODEL,
    Capture,
    DeviceError,
    Hello,
    LastFrame,
    Ping,
    Prediction,
    TensorError,
    TensorResult,
    format_message,
)
from tinymlaas.training.preprocess import UndecodableImage, to_pixels

logger = logging.getLogger(__name__)

CAMERA_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})
# How long a write may wait for the host to drain the pty before the rest of the line is
# dropped: a board's serial port drops output nobody reads instead of stopping the sketch.
_WRITE_GRACE_SECONDS = 0.05
_FRAME_GRACE_SECONDS = 5.0
_READ_CHUNK = 65536
# While a host sends TENSOR frames the camera loop pauses, until this long after the last one.
DRIVEN_SECONDS = 2.0
# A frame whose bytes stop coming for this long is given up (as the sketch does).
FRAME_GAP_SECONDS = 0.5
# Frames kept for `fetch_frame`: the server asks within milliseconds of the prediction.
RECENT_FRAMES = 32


def _is_camera_image(relative: str) -> bool:
    """Whether a camera-relative path names an image (not hidden files or macOS zip junk)."""
    parts = relative.split("/")
    if any(part.startswith(".") or part == "__MACOSX" for part in parts):
        return False
    return PurePosixPath(relative).suffix.lower() in CAMERA_SUFFIXES


def load_camera(path: Path) -> list[tuple[str, bytes]]:
    """Return (source, bytes) of every image under a folder or in a zip, sorted by source.

    The source is the path relative to the camera root with "/" separators.
    """
    images: list[tuple[str, bytes]] = []
    if path.is_dir():
        for file in path.rglob("*"):
            relative = file.relative_to(path).as_posix()
            if file.is_file() and _is_camera_image(relative):
                images.append((relative, file.read_bytes()))
    elif path.is_file():
        try:
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    name = info.filename.replace("\\", "/").lstrip("/")
                    if not info.is_dir() and _is_camera_image(name):
                        images.append((name, archive.read(info)))
        except (zipfile.BadZipFile, OSError) as error:
            raise ValueError(f"virtual camera {path} is not a readable zip: {error}") from error
    else:
        raise ValueError(f"virtual camera {path} does not exist")
    if not images:
        kinds = ", ".join(sorted(CAMERA_SUFFIXES))
        raise ValueError(f"virtual camera {path} holds no images ({kinds})")
    return sorted(images, key=lambda image: image[0])


def _prediction_line(prediction: Prediction) -> bytes:
    """Format a PRED line, leaving out a source too long for the protocol's line limit."""
    try:
        return format_message(prediction)
    except ValueError:
        if prediction.source is None:
            raise
        return format_message(
            Prediction(prediction.seq, prediction.label, prediction.scores, prediction.latency_ms)
        )


class VirtualDevice:
    """A simulated board on a pseudo-terminal, running its model over a folder of images."""

    board = VIRTUAL_BOARD

    def __init__(
        self,
        index: int,
        camera: list[tuple[str, bytes]],
        interval_seconds: float = 0.2,
        baudrate: int | None = None,
    ) -> None:
        if not camera:
            raise ValueError("a virtual device needs at least one camera image")
        if interval_seconds < 0:
            raise ValueError("interval_seconds must not be negative")
        self.index = index
        self.serial_number = f"TMLVIRT-{index}"
        self.interval_seconds = interval_seconds
        # A pseudo-terminal moves bytes at memory speed; with a baud rate the device takes as
        # long per byte as a UART would (10 bits a byte: start, 8 data, stop).
        self.baudrate = baudrate
        self._driven_until = 0.0
        self._last_input = 0.0
        # Camera frames sent on request, and the image of the latest inference (LAST).
        self._captured = 0
        self._last_inferred: tuple[str, bytes] | None = None
        self._camera = list(camera)
        self._master, self._slave = os.openpty()
        # Raw mode: no echo of PINGs back to the host, no newline translation.
        tty.setraw(self._slave)
        # The device keeps the slave open itself, so the master never sees EIO while the host
        # has the port closed; unread output then piles up until writes would block.
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        self._wake_read, self._wake_write = os.pipe()
        self._lock = threading.Lock()
        self._model: Model | None = None
        self._seq = 0
        self._frame = 0
        self._next_frame_at = 0.0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        # The camera images of the latest predictions, newest last (see frame_of).
        self._recent: collections.deque[KeptFrame] = collections.deque(maxlen=RECENT_FRAMES)

    @property
    def model_id(self) -> str:
        """The installed model's id, or "none"."""
        with self._lock:
            return self._model.model_id if self._model is not None else NO_MODEL

    def port_info(self) -> PortInfo:
        """Describe this device the way discovery describes a USB port."""
        return PortInfo(
            port=self.port,
            serial_number=self.serial_number,
            vid=None,
            pid=None,
            description=f"TinyMLaaS virtual device {self.index}",
            board=VIRTUAL_BOARD,
        )

    def start(self) -> None:
        """Power the device on: a daemon thread answers PINGs and, with a model, predicts."""
        if self._closed:
            raise RuntimeError(f"virtual device {self.serial_number} was stopped")
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name=f"virtual-device-{self.index}", daemon=True
        )
        self._thread.start()

    def install(
        self,
        model: bytes,
        manifest: dict[str, Any],
        model_id: str,
        c_library: bytes | None = None,
    ) -> None:
        """Flash a model, then reboot: HELLO unprompted, predictions from seq 0 and image 0.

        A manifest with `engine: "c"` runs the generated C of `c_library` (built with the host
        C compiler), any other TFLite-Micro. ValueError (with the engine's message) if the model
        is invalid, does not match its manifest or does not fit the virtual board; the previous
        model then keeps running.
        """
        if not model_id:
            raise ValueError("the model id must not be empty")
        loaded = load_model(bytes(model), manifest, model_id, c_library)
        with self._lock:
            self._model = loaded
            self._seq = 0
            self._frame = 0
            self._next_frame_at = time.monotonic()
            self._recent.clear()
            self._write(format_message(loaded.hello()))
        self._wake()

    def fetch_last_frame(self) -> KeptFrame | None:
        """The camera image of the latest prediction, or None before the first one."""
        with self._lock:
            return self._recent[-1] if self._recent else None

    def frame_of(self, seq: int) -> KeptFrame | None:
        """The camera image prediction `seq` was made on, while it is among the latest."""
        with self._lock:
            return next((frame for frame in self._recent if frame.seq == seq), None)

    def stop(self) -> None:
        """Power off: stop the thread and close the pseudo-terminal (the port disappears)."""
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for descriptor in (self._master, self._slave, self._wake_read, self._wake_write):
            os.close(descriptor)

    def _wake(self) -> None:
        """Interrupt the device thread's wait (a new model, or stop)."""
        # A full pipe means the thread will wake anyway.
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"\0")

    def _run(self) -> None:
        """The device's main loop: serve the host, run one inference whenever one is due."""
        reader = StreamReader(max_payload=0)
        while not self._stopping.is_set():
            wait = self._seconds_to_next_frame()
            if reader.partial:
                wait = FRAME_GAP_SECONDS if wait is None else min(wait, FRAME_GAP_SECONDS)
            ready, _, _ = select.select([self._master, self._wake_read], [], [], wait)
            if self._wake_read in ready:
                os.read(self._wake_read, _READ_CHUNK)
            if self._master in ready:
                self._serve(reader, self._read())
            elif reader.partial and time.monotonic() - self._last_input >= FRAME_GAP_SECONDS:
                self._serve(reader, b"", abandon=True)
            if not self._stopping.is_set():
                self._predict_if_due()

    def _read(self) -> bytes:
        try:
            data = os.read(self._master, _READ_CHUNK)
        except BlockingIOError:
            return b""
        except OSError:
            # Should not happen while the device holds the slave; avoid a busy loop if it does.
            time.sleep(0.05)
            return b""
        self._last_input = time.monotonic()
        self._pace(len(data))
        return data

    def _pace(self, count: int) -> None:
        if self.baudrate:
            time.sleep(count * 10 / self.baudrate)

    def _serve(self, reader: StreamReader, data: bytes, abandon: bool = False) -> None:
        """Answer PINGs and TENSOR frames in what the host sent; everything else is ignored."""
        with self._lock:
            model = self._model
        reader.max_payload = model.input_bytes if model is not None and model.int8 else 0
        for item in reader.abandon() if abandon else reader.feed(data):
            if isinstance(item, Ping):
                hello = model.hello() if model is not None else None
                blank = Hello(NO_MODEL, VIRTUAL_BOARD, (), (0, 0, 0), LATEST_PROTOCOL)
                self._write(format_message(hello or blank))
            elif isinstance(item, BinaryFrame) and item.kind == TENSOR:
                self._driven_until = time.monotonic() + DRIVEN_SECONDS
                self._write(format_message(self._run_tensor(model, item)))
            elif isinstance(item, CorruptFrame) and item.kind == TENSOR:
                self._write(format_message(TensorError(item.seq, item.reason)))
            elif isinstance(item, Capture | LastFrame):
                self._send_frame(item)

    def _send_frame(self, request: Capture | LastFrame) -> None:
        """A camera frame: the next one (CAPTURE) or the latest inference's (LAST)."""
        with self._lock:
            if isinstance(request, Capture):
                image: tuple[str, bytes] | None = self._camera[self._captured % len(self._camera)]
                self._captured += 1
            else:
                image = self._last_inferred
        if image is None:
            self._write(format_message(TensorError(request.seq, "no inference yet")))
            return
        try:
            payload = camera_frame(image[1]).encode()
        except ValueError as error:
            self._write(format_message(TensorError(request.seq, str(error))))
            return
        self._write(encode_frame(FRAME, request.seq, payload), whole=True)

    def _run_tensor(self, model: Model | None, frame: BinaryFrame) -> TensorResult | TensorError:
        """Run the model on the int8 input tensor a host sent, as the sketch does."""
        if model is None:
            return TensorError(frame.seq, "no model installed")
        if not model.int8:
            return TensorError(frame.seq, "the model's input is not int8")
        if len(frame.payload) != model.input_bytes:
            message = f"tensor of {len(frame.payload)} bytes, the model takes {model.input_bytes}"
            return TensorError(frame.seq, message)
        sample = np.frombuffer(frame.payload, dtype=np.int8).reshape(
            model.height, model.width, model.channels
        )
        try:
            with self._lock:
                raw, latency_ms = model.runner.invoke_quantized(sample)
        except (ValueError, RuntimeError) as error:
            return TensorError(frame.seq, f"Invoke failed: {error}")
        scores = tuple(int(value) for value in np.asarray(raw).ravel())
        return TensorResult(frame.seq, max(0, round(latency_ms * 1000)), scores)

    def _seconds_to_next_frame(self) -> float | None:
        """How long the loop may wait for input; None (forever) without a model."""
        with self._lock:
            if self._model is None:
                return None
            return max(0.0, self._next_frame_at - time.monotonic())

    def _predict_if_due(self) -> None:
        """Classify the next camera image and print its PRED line (or an ERR line)."""
        with self._lock:
            model = self._model
            if model is None or time.monotonic() < self._next_frame_at:
                return
            if time.monotonic() < self._driven_until:
                # A host is testing the model: the camera waits (as on the sketch).
                self._next_frame_at = self._driven_until
                return
            source, data = self._camera[self._frame % len(self._camera)]
            self._last_inferred = (source, data)
            self._frame += 1
            try:
                pixels = to_pixels(data, model.width, model.height, model.color_mode)
                scores, latency_ms = model.runner.invoke_timed(pixels)
            except UndecodableImage as error:
                self._write(format_message(DeviceError(f"camera capture failed: {error}")))
            except (ValueError, RuntimeError) as error:
                logger.warning("virtual device %s: invoke failed: %s", self.serial_number, error)
                self._write(format_message(DeviceError(f"Invoke failed: {error}")))
            else:
                # argmax takes the first label on ties, as the sketch does.
                top = model.labels[int(np.argmax(scores))]
                values = {
                    label: float(score) for label, score in zip(model.labels, scores, strict=True)
                }
                prediction = Prediction(self._seq, top, values, latency_ms, source)
                self._write(_prediction_line(prediction))
                self._recent.append(KeptFrame(self._seq, data))
                self._seq = (self._seq + 1) % SEQ_MODULUS
            self._next_frame_at = time.monotonic() + self.interval_seconds

    def _write(self, line: bytes, whole: bool = False) -> None:
        """Write without ever blocking for long; what the host does not drain is dropped.

        A dropped tail leaves a half line, which readers discard at the next "$". A frame the
        host asked for (`whole`) may take longer: the host is reading it.
        """
        self._pace(len(line))
        remaining = memoryview(line)
        deadline = time.monotonic() + (_FRAME_GRACE_SECONDS if whole else _WRITE_GRACE_SECONDS)
        while remaining:
            try:
                remaining = remaining[os.write(self._master, remaining) :]
            except BlockingIOError:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    return
                select.select([], [self._master], [], wait)
            except OSError:
                return
