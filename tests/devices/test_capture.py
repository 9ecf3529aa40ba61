"""Camera frames from a (virtual) board: CAPTURE for a new one, LAST for the latest inference's."""

from __future__ import annotations

import asyncio
import base64
import io
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from devices.test_virtual import Compiled, camera_folder, compiled, start_device  # noqa: F401
from tinymlaas.devices import messages
from tinymlaas.devices.bridge.capture import (
    FrameUnavailable,
    capture_on_port,
    fetch_frame,
    fetch_last_frame,
    to_png,
)
from tinymlaas.devices.bridge.client import Bridge
from tinymlaas.devices.bridge.transports import SerialTransport, handshake
from tinymlaas.devices.bridge.virtual import VirtualDevice, load_camera
from tinymlaas.devices.bridge.virtual_camera import camera_frame
from tinymlaas.hardware.serial_frames import GRAY8, RGB565, RGB888, CameraFrame
from tinymlaas.hardware.serial_protocol import Capture, LineReader, Prediction

StartDevice = Callable[[list[tuple[str, bytes]], float], VirtualDevice]


def test_a_capture_is_the_next_camera_image_at_its_own_size(
    camera_folder: Path,  # noqa: F811
    start_device: StartDevice,  # noqa: F811
) -> None:
    camera = load_camera(camera_folder)
    device = start_device(camera, 0.01)
    with SerialTransport(device.port) as transport:
        assert handshake(transport) is not None
        frames = [fetch_frame(transport, Capture(seq), timeout=5) for seq in range(2)]
    assert [(frame.width, frame.height, frame.pixel_format) for frame in frames] == [
        (36, 36, RGB888)
    ] * 2
    assert frames == [camera_frame(camera[0][1]), camera_frame(camera[1][1])]


def test_without_an_inference_there_is_no_last_frame(
    camera_folder: Path,  # noqa: F811
    start_device: StartDevice,  # noqa: F811
) -> None:
    device = start_device(load_camera(camera_folder), 0.01)
    with (
        SerialTransport(device.port) as transport,
        pytest.raises(FrameUnavailable, match="no inference yet"),
    ):
        fetch_last_frame(transport, timeout=5)


@pytest.mark.slow
def test_the_last_frame_is_what_the_latest_prediction_was_about(
    compiled: Compiled,  # noqa: F811
    camera_folder: Path,  # noqa: F811
    start_device: StartDevice,  # noqa: F811
) -> None:
    camera = load_camera(camera_folder)
    device = start_device(camera, 0.3)
    device.install(compiled.model, compiled.manifest, compiled.model_id)
    reader, latest = LineReader(), None
    with SerialTransport(device.port) as transport:
        deadline = time.monotonic() + 5
        while latest is None and time.monotonic() < deadline:
            found = [m for m in reader.feed(transport.read(0.1)) if isinstance(m, Prediction)]
            latest = found[-1] if found else None
        frame = fetch_last_frame(transport, timeout=5)
    assert latest is not None
    assert frame == camera_frame(dict(camera)[latest.source or ""])


@pytest.mark.slow
def test_the_bridge_fetches_a_boards_last_frame(
    compiled: Compiled,  # noqa: F811
    camera_folder: Path,  # noqa: F811
    start_device: StartDevice,  # noqa: F811
) -> None:
    device = start_device(load_camera(camera_folder), 0.01)
    device.install(compiled.model, compiled.manifest, compiled.model_id)
    time.sleep(0.2)
    bridge = Bridge("http://127.0.0.1:9", "tmlb_x", "bench", virtual_devices=[device])
    frame = asyncio.run(bridge.fetch_last_frame(device.port))
    assert (frame.width, frame.height) == (36, 36)


@pytest.mark.parametrize("pixel_format", [GRAY8, RGB565, RGB888])
def test_frames_become_lossless_pngs(pixel_format: int) -> None:
    rng = np.random.default_rng(pixel_format)
    size = {GRAY8: 1, RGB565: 2, RGB888: 3}[pixel_format]
    pixels = rng.integers(0, 256, 5 * 4 * size, dtype=np.uint8).tobytes()
    frame = CameraFrame(5, 4, pixel_format, pixels)
    assert CameraFrame.decode(frame.encode()) == frame
    with Image.open(io.BytesIO(to_png(frame))) as image:
        decoded = np.asarray(image)
    if pixel_format == RGB565:
        value = (pixels[0] << 8) | pixels[1]
        red = (value >> 11) & 31
        assert decoded[0, 0, 0] == (red << 3) | (red >> 2)
    else:
        assert decoded.tobytes() == pixels


def test_a_frame_whose_pixels_do_not_match_its_size_is_refused() -> None:
    with pytest.raises(ValueError, match="pixel bytes"):
        CameraFrame.decode(CameraFrame(2, 2, GRAY8, bytes(4)).encode()[:-1])


class DamagingTransport(SerialTransport):
    """A link that flips one byte in the frame answering each of the first `damage` CAPTUREs."""

    damage = 0
    armed = False

    def write(self, data: bytes) -> None:
        if b",CAPTURE," in data and self.damage:
            self.damage -= 1
            self.armed = True
        super().write(data)

    def read(self, timeout: float) -> bytes:
        data = super().read(timeout)
        if self.armed and len(data) > 64:  # a frame's bytes, past its header
            self.armed = False
            flipped = bytearray(data)
            flipped[len(flipped) // 2] ^= 0x40
            data = bytes(flipped)
        return data


@pytest.mark.parametrize(("damaged", "ok"), [(2, True), (3, False)])
def test_a_frame_damaged_on_the_way_is_asked_for_again(
    camera_folder: Path,  # noqa: F811
    start_device: StartDevice,  # noqa: F811
    damaged: int,
    ok: bool,
) -> None:
    camera = load_camera(camera_folder)
    device = start_device(camera, 0.01)
    transport = DamagingTransport(device.port)
    transport.damage = damaged
    sent: list[messages.Message] = []
    request = messages.Capture(job_id=7, port=device.port, count=2, interval_ms=0)

    result = capture_on_port(device.port, request, sent.append, threading.Event(), transport)

    frames = [m for m in sent if isinstance(m, messages.CaptureFrame)]
    if ok:  # the first frame damaged twice, whole the third time
        assert (result.ok, result.frames, len(frames)) == (True, 2, 2)
        pngs = [Image.open(io.BytesIO(base64.b64decode(frame.png))) for frame in frames]
        # each CAPTURE takes a new picture: the two damaged ones were the camera's first two
        assert [np.asarray(png).tobytes() for png in pngs] == [
            camera_frame(camera[index % len(camera)][1]).pixels for index in (2, 3)
        ]
    else:  # damaged once more than it is asked for again: the capture fails, saying why
        assert (result.ok, result.frames, frames) == (False, 0, [])
        assert "damaged on the way" in str(result.error)
        assert "(3 times)" in str(result.error)
