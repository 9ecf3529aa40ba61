"""Virtual devices end to end: a real int8 model, real TFLite-Micro, real pyserial over a pty."""

from __future__ import annotations

import hashlib
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinymlaas.compiling import litert
from tinymlaas.contracts import TrainingConfig
from tinymlaas.devices.bridge.cancellation import Cancellation
from tinymlaas.devices.bridge.discovery import PortInfo
from tinymlaas.devices.bridge.install import InstallRequest
from tinymlaas.devices.bridge.installers import VirtualInstaller
from tinymlaas.devices.bridge.transports import SerialTransport, TransportError, handshake
from tinymlaas.devices.bridge.virtual import VirtualDevice, load_camera
from tinymlaas.hardware.boards import BOARDS
from tinymlaas.hardware.serial_protocol import Hello, LineReader, Message, Prediction
from tinymlaas.training.preprocess import to_pixels

from support.factories import pattern_image

CLASSES = ["dark", "bright", "left"]  # pattern_image kinds 0, 1, 2
SIZE = 24
NO_MODEL = Hello("none", "virtual", (), (0, 0, 0), 2)


@dataclass(frozen=True)
class Compiled:
    """What the compile job would store: model, manifest text and the model id."""

    model: bytes
    manifest_json: bytes
    model_id: str

    @property
    def manifest(self) -> dict[str, Any]:
        return dict(json.loads(self.manifest_json))


def compile_pattern_model(layers: Callable[[Any], list[Any]], epochs: int) -> Compiled:
    """Train a tiny CNN (`layers(keras)` after rescaling) on 24×24 grayscale pattern images and
    compile it for the virtual board as the worker does: the int8 model and its manifest."""
    import keras

    from tinymlaas.compiling.manifest import (
        CompiledArtifacts,
        CompileTarget,
        DatasetFacts,
        ModelFacts,
        build_manifest,
    )
    from tinymlaas.compiling.tflite import convert
    from tinymlaas.compiling.tflm import measure_arena

    keras.utils.set_random_seed(3)
    labels = np.arange(120) % len(CLASSES)
    pixels = np.stack(
        [
            to_pixels(pattern_image(int(kind), seed=index, size=SIZE), SIZE, SIZE, "grayscale")
            for index, kind in enumerate(labels)
        ]
    )
    network = keras.Sequential(
        [keras.Input((SIZE, SIZE, 1)), keras.layers.Rescaling(1 / 255), *layers(keras)]
    )
    network.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    network.fit(pixels.astype(np.float32), labels, epochs=epochs, batch_size=16, verbose=0)
    model = convert(network, "int8", pixels)
    input_info, output_info = litert.describe(model)
    config = TrainingConfig(architecture="cnn", alpha=1.0, input_width=SIZE, input_height=SIZE)
    manifest = build_manifest(
        target=CompileTarget(1, "virtual", "int8", datetime(2026, 1, 1, tzinfo=UTC)),
        model=ModelFacts(id=1, name="patterns", architecture="cnn", alpha=1.0, training=config),
        dataset=DatasetFacts(id=1),
        classes=CLASSES,
        artifacts=CompiledArtifacts(
            model, input_info, output_info, measure_arena(model).arena_bytes
        ),
        versions={},
        files={"model.tflite": model},
    )
    text = manifest.to_json().encode()
    return Compiled(model, text, hashlib.sha256(text).hexdigest())


@pytest.fixture(scope="module")
def compiled() -> Compiled:
    """Train a tiny CNN on 24×24 grayscale pattern images and compile it as the worker does."""
    return compile_pattern_model(
        lambda keras: [
            keras.layers.Conv2D(4, 3, strides=2, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(len(CLASSES), activation="softmax"),
        ],
        epochs=8,
    )


def camera_images() -> dict[str, bytes]:
    """Held-out camera frames (36×36, so the device crops and samples) in class folders."""
    return {
        f"{label}/{index:02d}.png": pattern_image(kind, seed=9000 + 10 * kind + index, size=36)
        for kind, label in enumerate(CLASSES)
        for index in range(4)
    }


@pytest.fixture
def camera_folder(tmp_path: Path) -> Path:
    root = tmp_path / "camera"
    for source, data in camera_images().items():
        (root / source).parent.mkdir(parents=True, exist_ok=True)
        (root / source).write_bytes(data)
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"editor junk")
    return root


@pytest.fixture
def camera_zip(tmp_path: Path) -> Path:
    path = tmp_path / "camera.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for source, data in reversed(camera_images().items()):
            archive.writestr(source, data)
        archive.writestr("__MACOSX/dark/._00.png", b"resource fork")
        archive.writestr("readme.md", "not an image")
    return path


@pytest.fixture
def start_device() -> Iterator[Callable[[list[tuple[str, bytes]], float], VirtualDevice]]:
    """Start virtual devices that are stopped after the test."""
    devices: list[VirtualDevice] = []

    def start(camera: list[tuple[str, bytes]], interval_seconds: float) -> VirtualDevice:
        device = VirtualDevice(len(devices), camera, interval_seconds)
        devices.append(device)
        device.start()
        return device

    yield start
    for device in devices:
        device.stop()


@pytest.fixture
def device(
    camera_folder: Path, start_device: Callable[[list[tuple[str, bytes]], float], VirtualDevice]
) -> VirtualDevice:
    return start_device(load_camera(camera_folder), 0.002)


def read_until(
    transport: SerialTransport,
    reader: LineReader,
    done: Callable[[list[Message]], bool],
    timeout: float = 5.0,
) -> list[Message]:
    """Read messages until `done(messages)` holds; fail after `timeout` seconds."""
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    while not done(messages):
        assert time.monotonic() < deadline, f"gave up waiting; got {messages[-3:]}"
        messages += reader.feed(transport.read(0.1))
    return messages


def predictions(messages: list[Message]) -> list[Prediction]:
    return [message for message in messages if isinstance(message, Prediction)]


def test_camera_folder_is_every_image_sorted_by_relative_path(camera_folder: Path) -> None:
    expected = sorted(camera_images().items())
    assert load_camera(camera_folder) == expected
    assert expected[0][0] == "bright/00.png"


def test_camera_zip_is_read_like_a_folder(camera_zip: Path) -> None:
    assert load_camera(camera_zip) == sorted(camera_images().items())


@pytest.mark.parametrize("kind", ["missing", "empty folder", "no images", "not a zip"])
def test_camera_without_images_is_refused_naming_the_path(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "camera"
    if kind == "empty folder":
        path.mkdir()
    elif kind == "no images":
        path.mkdir()
        (path / "notes.txt").write_text("hello")
    elif kind == "not a zip":
        path.write_bytes(b"PK but not really")
    with pytest.raises(ValueError, match=str(path)):
        load_camera(path)


def test_device_without_a_model_says_so_and_predicts_nothing(device: VirtualDevice) -> None:
    assert device.serial_number == "TMLVIRT-0"
    assert device.port_info() == PortInfo(
        device.port, "TMLVIRT-0", None, None, "TinyMLaaS virtual device 0", "virtual"
    )
    with SerialTransport(device.port) as transport:
        assert handshake(transport, timeout=2.0) == NO_MODEL
        assert transport.read(0.3) == b""


@pytest.mark.slow
@pytest.mark.parametrize("camera_kind", ["folder", "zip"])
def test_installed_model_announces_itself_and_classifies_every_camera_image(
    compiled: Compiled,
    camera_folder: Path,
    camera_zip: Path,
    start_device: Callable[[list[tuple[str, bytes]], float], VirtualDevice],
    camera_kind: str,
) -> None:
    camera = load_camera(camera_folder if camera_kind == "folder" else camera_zip)
    device = start_device(camera, 0.002)
    reader = LineReader()
    with SerialTransport(device.port) as transport:
        assert handshake(transport, reader=reader) == NO_MODEL
        device.install(compiled.model, compiled.manifest, compiled.model_id)
        # The "reboot" banner arrives unprompted, then one PRED per image, cycling.
        messages = read_until(
            transport, reader, lambda got: len(predictions(got)) >= len(camera) + 2
        )
    announced = Hello(compiled.model_id, "virtual", tuple(CLASSES), (SIZE, SIZE, 1), 2)
    assert messages[0] == announced
    lines = predictions(messages)
    assert [line.seq for line in lines] == list(range(len(lines)))
    assert [line.source for line in lines] == [
        camera[index % len(camera)][0] for index in range(len(lines))
    ]
    images = dict(camera)
    pixels = np.stack(
        [to_pixels(images[line.source or ""], SIZE, SIZE, "grayscale") for line in lines]
    )
    # LiteRT is another interpreter: same preprocessing + quantization give the same scores
    # up to one int8 output step (1/256).
    reference = litert.predict(compiled.model, pixels)
    for line, expected in zip(lines, reference, strict=True):
        assert list(line.scores) == CLASSES
        assert list(line.scores.values()) == pytest.approx(expected.tolist(), abs=1 / 256 + 1e-4)
        assert line.label == max(line.scores, key=lambda label: line.scores[label])
        assert line.latency_ms > 0
    correct = sum(line.label == (line.source or "").split("/")[0] for line in lines)
    assert correct >= 0.8 * len(lines)


def after_first_hello(messages: list[Any]) -> list[Any]:
    """The messages after the first HELLO (predictions of the old model may come before it)."""
    hellos = [index for index, message in enumerate(messages) if isinstance(message, Hello)]
    return messages[hellos[0] + 1 :] if hellos else []


@pytest.mark.slow
def test_reinstalling_reboots_the_device_at_seq_zero(
    compiled: Compiled, device: VirtualDevice
) -> None:
    reader = LineReader()
    with SerialTransport(device.port) as transport:
        device.install(compiled.model, compiled.manifest, compiled.model_id)
        read_until(transport, reader, lambda got: len(predictions(got)) >= 15)
        device.install(compiled.model, compiled.manifest, compiled.model_id)
        messages = read_until(
            transport, reader, lambda got: len(predictions(after_first_hello(got))) > 0
        )
    first = predictions(after_first_hello(messages))[0]
    assert (first.seq, first.source) == (0, "bright/00.png")


@pytest.mark.slow
def test_garbage_from_the_host_is_ignored_and_pings_still_answered(
    compiled: Compiled, device: VirtualDevice
) -> None:
    device.install(compiled.model, compiled.manifest, compiled.model_id)
    with SerialTransport(device.port) as transport:
        transport.write(b"\x00\xff\r\nAT+RST\r\n$TML1,PINH*AEDD\n$TML1,PING*0000\n$TML1,PI")
        transport.write(b"$" * 3000 + b"\n")
        hello = handshake(transport, timeout=2.0)
    assert hello is not None
    assert hello.model_id == compiled.model_id


@pytest.mark.slow
def test_device_keeps_running_while_nobody_reads_and_after_the_port_reopens(
    compiled: Compiled,
    camera_folder: Path,
    start_device: Callable[[list[tuple[str, bytes]], float], VirtualDevice],
) -> None:
    # No pause between images: with the port closed the pty buffer fills within milliseconds.
    device = start_device(load_camera(camera_folder), 0.0)
    device.install(compiled.model, compiled.manifest, compiled.model_id)
    reader = LineReader()
    with SerialTransport(device.port) as transport:
        before = read_until(transport, reader, lambda got: len(predictions(got)) >= 3)
    time.sleep(1.0)
    reader = LineReader()
    with SerialTransport(device.port) as transport:
        started = time.monotonic()
        hello = handshake(transport, timeout=2.0, reader=reader)
        assert time.monotonic() - started < 1.0
        after = read_until(transport, reader, lambda got: len(predictions(got)) >= 3)
    assert hello is not None
    assert hello.model_id == compiled.model_id
    # The device kept counting while the port was closed: no restart.
    assert predictions(after)[0].seq > predictions(before)[-1].seq + 20


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": b"not a model"}, "flatbuffer identifier 'TFL3' is missing"),
        ({"truncate": True}, "TFLite-Micro cannot load the model"),
        ({"tensor_arena_bytes_measured": 9 * 2**20}, "the board has 8,388,608 B"),
        ({"tensor_arena_bytes_measured": 2048}, "2048-byte arena is too small"),
        ({"classes": ["dark", "bright"]}, "outputs 3 scores for 2 labels"),
        ({"color_mode": "rgb"}, "input has 1 channels but color_mode rgb"),
        ({"drop": "classes"}, "lacks the field 'classes'"),
    ],
)
def test_a_bad_install_raises_and_the_previous_model_keeps_running(
    compiled: Compiled, device: VirtualDevice, change: dict[str, Any], message: str
) -> None:
    device.install(compiled.model, compiled.manifest, compiled.model_id)
    model = change.get("model", compiled.model)
    if change.get("truncate"):
        model = compiled.model[: len(compiled.model) // 2]
    manifest = compiled.manifest
    for key in ("tensor_arena_bytes_measured", "classes"):
        if key in change:
            manifest[key] = change[key]
    if "color_mode" in change:
        manifest["preprocessing"]["color_mode"] = change["color_mode"]
    manifest.pop(change.get("drop", ""), None)

    with pytest.raises(ValueError, match=message):
        device.install(model, manifest, "f" * 64)
    assert device.model_id == compiled.model_id
    with SerialTransport(device.port) as transport:
        hello = handshake(transport, timeout=2.0)
    assert hello is not None
    assert hello.model_id == compiled.model_id


@pytest.mark.slow
def test_virtual_installer_flashes_the_device_and_streams_its_output(
    compiled: Compiled, device: VirtualDevice
) -> None:
    logged: list[str] = []
    request = InstallRequest(
        port=device.port,
        board=BOARDS["virtual"],
        files={
            "model.tflite": compiled.model,
            "manifest.json": compiled.manifest_json,
            "arduino_library.zip": b"unused by virtual devices",
        },
        model_id=compiled.model_id,
    )
    result = VirtualInstaller({device.port: device}).install(request, logged.append, Cancellation())
    assert result.ok, result.output
    assert result.output.splitlines() == logged
    assert compiled.model_id in logged[-1]
    with SerialTransport(device.port) as transport:
        hello = handshake(transport, timeout=2.0)
    assert hello == Hello(compiled.model_id, "virtual", tuple(CLASSES), (SIZE, SIZE, 1), 2)


def test_stopping_the_device_unplugs_it(device: VirtualDevice) -> None:
    transport = SerialTransport(device.port)
    transport.open()
    try:
        device.stop()
        with pytest.raises(TransportError, match=device.port):
            transport.read(2.0)
    finally:
        transport.close()
    with pytest.raises(TransportError, match=device.port):
        SerialTransport(device.port).open()
