"""Virtual devices running the C engine: the generated C of c_library.zip, built with the host cc,
gives the very PRED lines TFLite-Micro gives for the same model on the same camera images."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from devices.test_virtual import (  # noqa: F401 (fixtures)
    CLASSES,
    NO_MODEL,
    SIZE,
    Compiled,
    camera_folder,
    compile_pattern_model,
    predictions,
    read_until,
    start_device,
)
from tinymlaas.compiling.c_library import build_c_library
from tinymlaas.compiling.manifest import Preprocessing
from tinymlaas.compiling.quantize import quantize_input
from tinymlaas.compiling.tflm import MicroRunner
from tinymlaas.devices.bridge.c_runner import MISSING_COMPILER, CRunner
from tinymlaas.devices.bridge.cancellation import Cancellation
from tinymlaas.devices.bridge.install import InstallRequest
from tinymlaas.devices.bridge.installers import VirtualInstaller
from tinymlaas.devices.bridge.transports import SerialTransport, handshake
from tinymlaas.devices.bridge.virtual import VirtualDevice, load_camera
from tinymlaas.engine.codegen import generate
from tinymlaas.hardware.boards import BOARDS
from tinymlaas.hardware.serial_protocol import Hello, LineReader, Prediction
from tinymlaas.training.preprocess import to_pixels

pytestmark = pytest.mark.slow
StartDevice = Callable[[list[tuple[str, bytes]], float], VirtualDevice]


@dataclass(frozen=True)
class CCompiled:
    """The same int8 model compiled with engine "c": its manifest, c_library.zip and model id."""

    model: bytes
    manifest_json: bytes
    library: bytes
    model_id: str

    @property
    def manifest(self) -> dict[str, Any]:
        return dict(json.loads(self.manifest_json))

    def request(self, port: str, without: str = "") -> InstallRequest:
        files = {
            "model.tflite": self.model,
            "manifest.json": self.manifest_json,
            "c_library.zip": self.library,
        }
        return InstallRequest(
            port=port,
            board=BOARDS["virtual"],
            files={name: data for name, data in files.items() if name != without},
            model_id=self.model_id,
        )


@pytest.fixture(scope="module")
def compiled() -> Compiled:
    """A tiny CNN on 24×24 grayscale pattern images, compiled as the worker does (pooled, not
    flattened: Keras's Flatten converts to SHAPE/STRIDED_SLICE/PACK, which only tflm runs)."""
    return compile_pattern_model(
        lambda keras: [
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(len(CLASSES), activation="softmax"),
        ],
        epochs=10,
    )


@pytest.fixture(scope="module")
def c_compiled(compiled: Compiled) -> CCompiled:
    manifest = compiled.manifest | {"engine": "c"}
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    preprocessing = Preprocessing.model_validate(manifest["preprocessing"])
    library = build_c_library(generate(compiled.model), "patterns", CLASSES, preprocessing, text)
    return CCompiled(
        compiled.model, text.encode(), library, hashlib.sha256(text.encode()).hexdigest()
    )


def install(device: VirtualDevice, request: InstallRequest) -> tuple[bool, str]:
    result = VirtualInstaller({device.port: device}).install(
        request, lambda _: None, Cancellation()
    )
    return result.ok, result.output


def one_cycle(device: VirtualDevice, count: int) -> list[Prediction]:
    """The first `count` predictions after the device's install banner."""
    with SerialTransport(device.port) as transport:
        reader = LineReader()
        messages = read_until(transport, reader, lambda got: len(predictions(got)) >= count)
    return predictions(messages)[:count]


def test_the_c_engine_gives_byte_identical_int8_scores_on_every_camera_image(
    compiled: Compiled,
    c_compiled: CCompiled,
    camera_folder: Path,  # noqa: F811
) -> None:
    tflm = MicroRunner(compiled.model, compiled.manifest["tensor_arena_bytes_measured"])
    c = CRunner(c_compiled.library, c_compiled.manifest, len(CLASSES))
    outputs = set()
    for source, data in load_camera(camera_folder):
        pixels = to_pixels(data, SIZE, SIZE, "grayscale")
        expected = tflm.predict_raw(pixels[np.newaxis])[0]
        ours = c._model.invoke(quantize_input(pixels[np.newaxis], c.input)[0])
        assert ours.dtype == expected.dtype == np.int8
        assert ours.tobytes() == expected.tobytes(), source
        scores, latency = c.invoke_timed(pixels)
        assert scores.tolist() == tflm.invoke_timed(pixels)[0].tolist(), source
        assert latency > 0
        outputs.add(ours.tobytes())
    # The images give different scores (identical outputs could not hide a constant result).
    assert len(outputs) >= len(CLASSES)


def test_a_c_device_prints_the_tflm_devices_pred_lines(
    compiled: Compiled,
    c_compiled: CCompiled,
    camera_folder: Path,  # noqa: F811
    start_device: StartDevice,  # noqa: F811
) -> None:
    camera = load_camera(camera_folder)
    tflm_device, c_device = start_device(camera, 0.002), start_device(camera, 0.002)
    tflm_device.install(compiled.model, compiled.manifest, compiled.model_id)
    ok, output = install(c_device, c_compiled.request(c_device.port))
    assert ok, output
    assert "the generated C of c_library.zip" in output
    with SerialTransport(c_device.port) as transport:
        hello = handshake(transport, timeout=2.0)
    assert hello == Hello(c_compiled.model_id, "virtual", tuple(CLASSES), (SIZE, SIZE, 1), 2)

    tflm_lines, c_lines = one_cycle(tflm_device, 13), one_cycle(c_device, 13)
    by_source = {line.source: line for line in tflm_lines}
    assert {line.source for line in c_lines} == {source for source, _ in camera}
    for line in c_lines:
        expected = by_source[line.source]
        assert (line.label, line.scores) == (expected.label, expected.scores), line.source
    correct = sum(line.label == (line.source or "").split("/")[0] for line in c_lines)
    assert correct >= 0.8 * len(c_lines)


def test_the_install_fails_without_a_c_compiler_and_the_device_is_untouched(
    c_compiled: CCompiled,
    camera_folder: Path,  # noqa: F811
    start_device: StartDevice,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    device = start_device(load_camera(camera_folder), 0.002)
    monkeypatch.setenv("CC", "tml-no-such-cc")
    ok, output = install(device, c_compiled.request(device.port))
    assert not ok
    assert MISSING_COMPILER in output
    assert "'tml-no-such-cc' is not on its PATH" in output
    with SerialTransport(device.port) as transport:
        assert handshake(transport, timeout=2.0) == NO_MODEL


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("missing", 'engine "c"\\) lacks c_library.zip'),
        ("broken", "the host C compiler cannot build the C library: cc failed"),
        ("not a zip", "c_library.zip is not a readable zip"),
    ],
)
def test_a_bad_c_install_fails_naming_the_problem(
    c_compiled: CCompiled,
    camera_folder: Path,  # noqa: F811
    start_device: StartDevice,  # noqa: F811
    change: str,
    message: str,
) -> None:
    device = start_device(load_camera(camera_folder), 0.002)
    request = c_compiled.request(device.port, "c_library.zip" if change == "missing" else "")
    if change == "not a zip":
        request.files["c_library.zip"] = b"not a zip"
    if change == "broken":
        buffer = io.BytesIO()
        with (
            zipfile.ZipFile(io.BytesIO(c_compiled.library)) as source,
            zipfile.ZipFile(buffer, "w") as target,
        ):
            for info in source.infolist():
                data = source.read(info)
                if info.filename == "tinymlaas_model.c":
                    data += b"\nint tml_broken(void) { return undeclared_name; }\n"
                target.writestr(info, data)
        request.files["c_library.zip"] = buffer.getvalue()
    ok, output = install(device, request)
    assert not ok
    assert re.search(message, output), output
    assert device.model_id == "none"
