"""Testing a model on a (virtual) board over serial: TENSOR frames out, TRES answers back."""

from __future__ import annotations

import os
import threading
import time
import tty
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from devices.test_virtual import (  # noqa: F401 (fixtures)
    SIZE,
    Compiled,
    camera_folder,
    start_device,
)
from devices.test_virtual_c import CCompiled, c_compiled, compiled, install  # noqa: F401
from tinymlaas.compiling import litert
from tinymlaas.compiling.quantize import quantize_input, tensor_info
from tinymlaas.devices import messages
from tinymlaas.devices.bridge.device_test import (
    UNANSWERED_LIMIT,
    TensorFeed,
    run_device_test,
    stream_tensors,
)
from tinymlaas.devices.bridge.transports import SerialTransport, handshake
from tinymlaas.devices.bridge.virtual import VirtualDevice, load_camera
from tinymlaas.hardware.serial_frames import TENSOR, StreamReader, encode_frame
from tinymlaas.hardware.serial_protocol import (
    Hello,
    LineReader,
    Ping,
    TensorError,
    TensorResult,
    format_message,
)
from tinymlaas.training.preprocess import to_pixels

pytestmark = pytest.mark.slow
StartDevice = Callable[[list[tuple[str, bytes]], float], VirtualDevice]


def held_out(model: Compiled, camera: Path, repeat: int = 1) -> np.ndarray:
    """The camera images as the int8 tensors a device test sends."""
    pixels = np.stack(
        [to_pixels(data, SIZE, SIZE, "grayscale") for _, data in load_camera(camera)] * repeat
    )
    spec = model.manifest["input"]
    info = tensor_info(spec["shape"], spec["dtype"], spec["scale"], spec["zero_point"])
    return quantize_input(pixels, info)


@pytest.fixture(params=["tflm", "c"])
def installed(
    request: pytest.FixtureRequest,
    compiled: Compiled,  # noqa: F811
    c_compiled: CCompiled,  # noqa: F811
    camera_folder: Path,  # noqa: F811
    start_device: StartDevice,  # noqa: F811
) -> VirtualDevice:
    """A virtual board running the model in TFLite-Micro, or as its generated C."""
    device = start_device(load_camera(camera_folder), 0.01)
    if request.param == "tflm":
        device.install(compiled.model, compiled.manifest, compiled.model_id)
    else:
        ok, output = install(device, c_compiled.request(device.port))
        assert ok, output
    return device


def feed_of(tensors: np.ndarray) -> TensorFeed:
    feed = TensorFeed(len(tensors), int(np.prod(tensors.shape[1:])))
    feed.add(0, tensors.tobytes())
    return feed


def request(device: VirtualDevice, tensors: np.ndarray) -> messages.DeviceTest:
    return messages.DeviceTest(
        job_id=1,
        port=device.port,
        model_id=device.model_id,
        count=len(tensors),
        input_bytes=int(np.prod(tensors.shape[1:])),
    )


def test_the_virtual_board_answers_every_tensor_as_the_host_computes_it(
    compiled: Compiled,  # noqa: F811
    installed: VirtualDevice,
    camera_folder: Path,  # noqa: F811
) -> None:
    tensors = held_out(compiled, camera_folder, repeat=10)
    progress: list[messages.Message] = []
    started = time.monotonic()
    result = run_device_test(
        installed.port,
        request(installed, tensors),
        feed_of(tensors),
        progress.append,
        threading.Event(),
    )
    elapsed = time.monotonic() - started
    assert result.ok, result.error
    assert len(result.answers) == len(tensors) == 120
    host = litert.predict_raw(compiled.model, tensors)
    assert [answer.status for answer in result.answers] == ["ok"] * len(tensors)
    # The virtual board's int8 outputs are the host's, byte for byte.
    assert [answer.scores for answer in result.answers] == host.tolist()
    assert all(answer.latency_us is not None and answer.latency_us > 0 for answer in result.answers)
    assert len(tensors) / elapsed >= 50, f"{len(tensors) / elapsed:.0f} images/s"
    assert result.bytes_sent == len(tensors) * (SIZE * SIZE + 15)
    assert isinstance(progress[-1], messages.DeviceTestProgress)
    assert (progress[-1].done, progress[-1].total) == (120, 120)


def test_a_board_running_another_model_is_not_tested(
    compiled: Compiled,  # noqa: F811
    installed: VirtualDevice,
    camera_folder: Path,  # noqa: F811
) -> None:
    tensors = held_out(compiled, camera_folder)
    other = request(installed, tensors).model_copy(update={"model_id": "ab" * 32})
    result = run_device_test(installed.port, other, feed_of(tensors), print, threading.Event())
    assert not result.ok
    assert "install it first" in str(result.error)


@pytest.fixture
def version_one_board() -> Iterator[str]:
    """A board that speaks only protocol version 1: HELLO with four fields, TENSOR ignored."""
    master, slave = os.openpty()
    tty.setraw(slave)
    stop = threading.Event()

    def serve() -> None:
        reader = LineReader()
        while not stop.is_set():
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if any(isinstance(message, Ping) for message in reader.feed(data)):
                hello = Hello("ab" * 32, "nano33ble", ("a", "b"), (24, 24, 1))
                os.write(master, format_message(hello))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield os.ttyname(slave)
    stop.set()
    os.close(slave)
    os.close(master)
    thread.join(timeout=2)


def test_a_version_one_board_is_told_apart_by_its_hello(version_one_board: str) -> None:
    with SerialTransport(version_one_board) as transport:
        hello = handshake(transport)
    assert hello is not None
    assert hello.protocol == 1
    test = messages.DeviceTest(
        job_id=1, port=version_one_board, model_id="ab" * 32, count=1, input_bytes=576
    )
    feed = TensorFeed(1, 576)
    feed.add(0, bytes(576))
    result = run_device_test(version_one_board, test, feed, print, threading.Event())
    assert not result.ok
    assert "protocol version 1" in str(result.error)


class NoisyTransport(SerialTransport):
    """A serial link that damages every third frame it sends (one byte of the payload flips)."""

    writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        if self.writes % 3 == 0:
            damaged = bytearray(data)
            damaged[len(damaged) // 2] ^= 0x40
            data = bytes(damaged)
        super().write(data)


def test_damaged_frames_are_refused_by_the_board_and_sent_again(
    compiled: Compiled,  # noqa: F811
    installed: VirtualDevice,
    camera_folder: Path,  # noqa: F811
) -> None:
    tensors = held_out(compiled, camera_folder)
    with NoisyTransport(installed.port) as transport:
        assert handshake(transport) is not None
        run = stream_tensors(
            transport, iter(feed_of(tensors).tensors(threading.Event())), 2.0,
            threading.Event(), lambda done: None,
        )  # fmt: skip
    assert [answer.status for answer in run.answers] == ["ok"] * len(tensors)
    assert [list(answer.scores) for answer in run.answers] == litert.predict_raw(
        compiled.model, tensors
    ).tolist()
    # A third of the frames went twice.
    assert run.bytes_sent > len(tensors) * (SIZE * SIZE + 15)


class HangingTransport(SerialTransport):
    """The link to a board that, once told to, hangs after `answered` more frames: nothing
    written after them reaches it."""

    answered: int | None = None
    writes = 0

    def hang_after(self, answered: int) -> None:
        self.answered, self.writes = answered, 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        if self.answered is None or self.writes <= self.answered:
            super().write(data)


@pytest.mark.parametrize("answered", [7, 0])
def test_a_board_that_stops_answering_ends_the_test_promptly_with_every_image_counted(
    compiled: Compiled,  # noqa: F811
    installed: VirtualDevice,
    camera_folder: Path,  # noqa: F811
    answered: int,
) -> None:
    tensors = held_out(compiled, camera_folder, repeat=4)
    timeout = 0.3
    started = time.monotonic()
    with HangingTransport(installed.port) as transport:
        assert handshake(transport) is not None
        transport.hang_after(answered)
        run = stream_tensors(
            transport, iter(feed_of(tensors).tensors(threading.Event())), timeout,
            threading.Event(), lambda done: None,
        )  # fmt: skip
    elapsed = time.monotonic() - started
    unsent = len(tensors) - answered - UNANSWERED_LIMIT
    assert unsent > 30
    assert [answer.status for answer in run.answers] == (
        ["ok"] * answered + ["timeout"] * UNANSWERED_LIMIT + ["not_sent"] * unsent
    )
    # Nothing more went to the board once it had left five images in a row unanswered.
    assert transport.writes == answered + UNANSWERED_LIMIT
    # Waiting out every image would take len(tensors) × 0.3 s = 14 s.
    assert elapsed < UNANSWERED_LIMIT * timeout + 3, elapsed
    reason = (
        f"the board stopped answering after image {answered}" if answered
        else "the board never answered"
    )  # fmt: skip
    assert {answer.error for answer in run.answers[-unsent:]} == {
        f"{reason} ({UNANSWERED_LIMIT} images in a row without an answer, the rest not sent)"
    }


def test_the_board_resynchronises_after_noise_and_cut_frames(
    compiled: Compiled,  # noqa: F811
    installed: VirtualDevice,
    camera_folder: Path,  # noqa: F811
) -> None:
    tensor = held_out(compiled, camera_folder)[0].tobytes()
    good = encode_frame(TENSOR, 7, tensor)
    longer = encode_frame(TENSOR, 5, tensor)[:-2] + b"\x00" * 40  # more bytes than announced
    oversized = encode_frame(TENSOR, 6, tensor + b"\x00")
    with SerialTransport(installed.port) as transport:
        assert handshake(transport) is not None
        transport.write(b"\xa5\x5a\x00noise$TML1,PI\n" + good[:300] + longer + oversized + good)
        reader = StreamReader(0)
        answers: list[object] = []
        deadline = time.monotonic() + 5
        while not any(isinstance(a, TensorResult) for a in answers):
            assert time.monotonic() < deadline, answers
            answers += [
                item
                for item in reader.feed(transport.read(0.2))
                if isinstance(item, TensorResult | TensorError)
            ]
    errors = {item.seq: item.message for item in answers if isinstance(item, TensorError)}
    assert "exceeds" in errors[6]
    assert "checksum" in errors[5] or "checksum" in errors.get(7, "")
    results = [item for item in answers if isinstance(item, TensorResult)]
    assert results[0].seq == 7


def test_a_cancelled_test_stops_streaming_and_says_how_many_images_were_answered(
    compiled: Compiled,  # noqa: F811
    installed: VirtualDevice,
    camera_folder: Path,  # noqa: F811
) -> None:
    tensors = held_out(compiled, camera_folder, repeat=50)
    feed = feed_of(tensors)

    def progress(message: messages.Message) -> None:
        if isinstance(message, messages.DeviceTestProgress) and message.done >= 1:
            feed.cancelled.set()  # what the server's `cancel_device_test` does

    result = run_device_test(
        installed.port, request(installed, tensors), feed, progress, threading.Event()
    )
    assert (result.ok, result.cancelled) == (False, True)
    assert 1 <= result.answered < len(tensors)
    assert result.error == f"cancelled: {result.answered} of {len(tensors)} images answered"
    # The port was released: the board answers a new session at once.
    with SerialTransport(installed.port) as transport:
        assert handshake(transport) is not None
