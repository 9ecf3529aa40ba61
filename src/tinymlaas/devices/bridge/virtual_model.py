"""What "flashing" a virtual board loads: the model's runner and the sketch's constants.

manifest.json says how to feed the model and which engine runs it: TFLite-Micro for
model.tflite, or the generated C of c_library.zip built with the host C compiler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from tinymlaas.compiling.manifest import DeviceManifest
from tinymlaas.compiling.tflm import MicroRunner
from tinymlaas.contracts import ColorMode, channels_of
from tinymlaas.devices.bridge.c_runner import C_LIBRARY_FILE, CRunner, Runner, manifest_engine
from tinymlaas.devices.bridge.discovery import VIRTUAL_BOARD
from tinymlaas.hardware.boards import BOARDS
from tinymlaas.hardware.footprint import fit
from tinymlaas.hardware.serial_protocol import (
    LATEST_PROTOCOL,
    Hello,
    Prediction,
    format_message,
)

# A board's seq is a 32-bit unsigned long.
SEQ_MODULUS = 2**32


@dataclass(frozen=True)
class Model:
    """A "flashed" model: its runner and what the sketch's generated constants would hold."""

    runner: Runner
    model_id: str
    labels: tuple[str, ...]
    width: int
    height: int
    channels: int
    color_mode: ColorMode
    # Whether the input tensor is int8, which a TENSOR frame must fill byte for byte.
    int8: bool = True

    @property
    def input_bytes(self) -> int:
        """The size of an int8 input tensor (what a TENSOR frame carries)."""
        return self.width * self.height * self.channels

    def hello(self) -> Hello:
        shape = (self.width, self.height, self.channels)
        return Hello(self.model_id, VIRTUAL_BOARD, self.labels, shape, LATEST_PROTOCOL)


@dataclass(frozen=True)
class _ModelSpec:
    """What the manifest says about how to feed the model."""

    labels: tuple[str, ...]
    shape: tuple[int, int, int, int]  # 1, height, width, channels (the input tensor's shape)
    dtype: str
    color_mode: ColorMode
    arena_bytes: int


def _parse_manifest(manifest: dict[str, Any]) -> DeviceManifest:
    """What a device reads of manifest.json; ValueError naming the first bad field."""
    try:
        return DeviceManifest.model_validate(manifest)
    except ValidationError as error:
        first = error.errors()[0]
        location = first["loc"]
        if first["type"] == "missing":
            raise ValueError(f"manifest.json lacks the field {location[-1]!r}") from error
        where = ".".join(str(part) for part in location)
        raise ValueError(f"manifest.json is malformed: {where}: {first['msg']}") from error


def _read_manifest(manifest: dict[str, Any]) -> _ModelSpec:
    """Pick the fields a device needs out of manifest.json; ValueError naming a bad one."""
    parsed = _parse_manifest(manifest)
    classes, shape = parsed.classes, parsed.input.shape
    color_mode = parsed.preprocessing.color_mode
    arena = parsed.tensor_arena_bytes_measured
    if not classes or not all(classes):
        raise ValueError("manifest.json classes must be a non-empty list of labels")
    if len(set(classes)) != len(classes):
        raise ValueError("manifest.json classes must be unique")
    if len(shape) != 4 or not all(size > 0 for size in shape) or shape[0] != 1:
        raise ValueError(f"manifest.json input shape must be [1, height, width, channels]: {shape}")
    channels = channels_of(color_mode)
    if shape[3] != channels:
        raise ValueError(f"manifest.json input has {shape[3]} channels but color_mode {color_mode}")
    if arena <= 0:
        raise ValueError(f"manifest.json tensor_arena_bytes_measured is not a size: {arena!r}")
    return _ModelSpec(
        tuple(classes), (1, shape[1], shape[2], shape[3]), parsed.input.dtype, color_mode, arena
    )


def _check_fits(model_bytes: int, spec: _ModelSpec) -> None:
    """Refuse a model the virtual board's memory cannot hold, by the server's own formula."""
    _, height, width, channels = spec.shape
    verdict = fit(
        BOARDS[VIRTUAL_BOARD],
        model_bytes=model_bytes,
        arena_bytes=spec.arena_bytes,
        input_bytes=height * width * channels * (4 if spec.dtype == "float32" else 1),
        channels=channels,
    )
    if not verdict.fits:
        raise ValueError(f"the virtual board cannot hold this model: {verdict.detail['summary']}")


def _micro_runner(model: bytes, spec: _ModelSpec) -> MicroRunner:
    """Load model.tflite into TFLite-Micro and check it against its manifest."""
    try:
        runner = MicroRunner(model, spec.arena_bytes)
    except (ValueError, RuntimeError) as error:
        raise ValueError(f"TFLite-Micro cannot load the model: {error}") from error
    if runner.input.shape != spec.shape or runner.input.dtype != spec.dtype:
        raise ValueError(
            f"the model's input is {runner.input.dtype} {list(runner.input.shape)}, "
            f"manifest.json says {spec.dtype} {list(spec.shape)}"
        )
    if runner.output.shape[-1] != len(spec.labels):
        raise ValueError(
            f"the model outputs {runner.output.shape[-1]} scores for {len(spec.labels)} labels"
        )
    return runner


def load_model(
    model: bytes, manifest: dict[str, Any], model_id: str, c_library: bytes | None
) -> Model:
    """Load and test-run the model as a sketch's setup() would; ValueError with the reason.

    The manifest's engine decides what runs: TFLite-Micro, or the generated C of c_library.zip.
    """
    spec = _read_manifest(manifest)
    engine = manifest_engine(manifest)
    if engine == "c" and c_library is None:
        raise ValueError(f'an engine "c" model needs {C_LIBRARY_FILE}')
    _check_fits(len(model), spec)
    runner: Runner
    if c_library is not None and engine == "c":
        runner = CRunner(c_library, manifest, len(spec.labels))
    else:
        runner = _micro_runner(model, spec)
    _, height, width, channels = spec.shape
    try:
        # Some kernels allocate scratch buffers at their first invoke: fail now, not mid-loop.
        runner.invoke_timed(np.zeros((height, width, channels), dtype=np.uint8))
    except (ValueError, RuntimeError) as error:
        name = "the generated C" if engine == "c" else "TFLite-Micro"
        raise ValueError(f"{name} cannot run the model: {error}") from error
    int8 = spec.dtype == "int8"
    loaded = Model(runner, model_id, spec.labels, width, height, channels, spec.color_mode, int8)
    worst = Prediction(SEQ_MODULUS - 1, spec.labels[0], dict.fromkeys(spec.labels, 1.0), 1e6)
    try:
        format_message(loaded.hello())
        format_message(worst)
    except ValueError as error:
        # Such a label set could never be reported over serial.
        raise ValueError(f"the labels do not fit in a protocol line: {error}") from error
    return loaded
