"""The C engine on a virtual board: the generated C of `c_library.zip`, built with the host `cc`.

A model compiled with `engine: "c"` runs on the virtual device as the very sources the real
board compiles, loaded with ctypes (`tinymlaas.engine.host`). Pixels are quantized and scores
dequantized exactly as for TFLite-Micro (`compiling.quantize`), so both engines give the same
PRED lines for byte-identical int8 outputs.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import time
import zipfile
from typing import Any, Protocol

import numpy as np
from pydantic import ValidationError

from tinymlaas.compiling.manifest import DeviceManifest, TensorSpec
from tinymlaas.compiling.quantize import TensorInfo, dequantize_output, quantize_input
from tinymlaas.contracts import Engine
from tinymlaas.engine.codegen import HEADER_NAME
from tinymlaas.engine.host import HostBuildError, HostModel

C_LIBRARY_FILE = "c_library.zip"
MISSING_COMPILER = "the C engine's virtual device needs a C compiler (cc) on the bridge's machine"
# The generated library is small; anything far larger is not one.
_MAX_SOURCE_BYTES = 64 * 1024 * 1024
_SIZE_DEFINE = re.compile(r"^#define (TML_INPUT_SIZE|TML_OUTPUT_SIZE) (\d+)\s*$", re.MULTILINE)


class Runner(Protocol):
    """What a virtual device runs: uint8 pixels (H, W, C) in, float scores and latency out."""

    def invoke_timed(self, pixels_one: np.ndarray) -> tuple[np.ndarray, float]: ...

    def invoke_quantized(self, sample: np.ndarray) -> tuple[np.ndarray, float]:
        """Raw outputs and latency (ms) for one input already in the tensor's type."""
        ...


class _CManifest(DeviceManifest):
    """What a device reads of manifest.json to choose and feed an engine."""

    engine: Engine = "tflm"
    output: TensorSpec | None = None


def manifest_engine(manifest: dict[str, Any]) -> Engine:
    """The engine manifest.json names ("tflm" when it names none); ValueError if unknown."""
    engine = manifest.get("engine", "tflm")
    if engine not in ("tflm", "c"):
        raise ValueError(f"manifest.json names an unknown engine {engine!r}")
    return "c" if engine == "c" else "tflm"


def compiler() -> str:
    """The host C compiler `tinymlaas.engine.host` builds with ($CC, else cc)."""
    return os.environ.get("CC") or "cc"


def read_sources(library_zip: bytes) -> dict[str, str]:
    """The generated sources (top-level .c and .h files) of c_library.zip; ValueError if bad."""
    try:
        with zipfile.ZipFile(io.BytesIO(library_zip)) as archive:
            infos = [
                info
                for info in archive.infolist()
                if "/" not in info.filename and info.filename.endswith((".c", ".h"))
            ]
            if sum(info.file_size for info in infos) > _MAX_SOURCE_BYTES:
                raise ValueError(f"{C_LIBRARY_FILE}'s sources exceed {_MAX_SOURCE_BYTES:,} B")
            files = {info.filename: archive.read(info).decode("utf-8") for info in infos}
    except (zipfile.BadZipFile, UnicodeDecodeError, OSError) as error:
        raise ValueError(f"{C_LIBRARY_FILE} is not a readable zip of C sources: {error}") from error
    if HEADER_NAME not in files or not any(name.endswith(".c") for name in files):
        raise ValueError(f"{C_LIBRARY_FILE} lacks the generated sources ({HEADER_NAME}, *.c)")
    return files


def _sizes(header: str) -> tuple[int, int]:
    sizes = dict(_SIZE_DEFINE.findall(header))
    if set(sizes) != {"TML_INPUT_SIZE", "TML_OUTPUT_SIZE"}:
        raise ValueError(f"{HEADER_NAME} does not define TML_INPUT_SIZE and TML_OUTPUT_SIZE")
    return int(sizes["TML_INPUT_SIZE"]), int(sizes["TML_OUTPUT_SIZE"])


def _tensors(manifest: dict[str, Any]) -> tuple[TensorInfo, TensorInfo]:
    try:
        parsed = _CManifest.model_validate(manifest)
    except ValidationError as error:
        raise ValueError(f"manifest.json is malformed: {error.errors()[0]['msg']}") from error
    if parsed.output is None:
        raise ValueError("manifest.json lacks the field 'output' (the C engine needs it)")
    tensors = []
    for name, spec in (("input", parsed.input), ("output", parsed.output)):
        if spec.dtype != "int8":
            raise ValueError(
                f"the C engine takes int8 tensors; manifest.json {name} is {spec.dtype}"
            )
        tensors.append(TensorInfo(tuple(spec.shape), spec.dtype, spec.scale, spec.zero_point))
    return tensors[0], tensors[1]


class CRunner:
    """The generated C built for the host and loaded; not thread-safe (one static arena)."""

    def __init__(self, library_zip: bytes, manifest: dict[str, Any], classes: int) -> None:
        files = read_sources(library_zip)
        self.input, self.output = _tensors(manifest)
        input_size, output_size = _sizes(files[HEADER_NAME])
        expected_input = int(np.prod(self.input.shape))
        if input_size != expected_input:
            raise ValueError(
                f"the C library takes {input_size} input bytes, manifest.json's input"
                f" {list(self.input.shape)} has {expected_input}"
            )
        if output_size != classes or int(np.prod(self.output.shape)) != classes:
            raise ValueError(f"the C library outputs {output_size} scores for {classes} labels")
        name = compiler()
        if shutil.which(name) is None:
            raise ValueError(f"{MISSING_COMPILER} ({name!r} is not on its PATH)")
        try:
            model = HostModel(files, input_size, output_size)
        except (HostBuildError, OSError, ValueError) as error:
            raise ValueError(f"the host C compiler cannot build the C library: {error}") from error
        # The loaded library stays mapped; its build directory is not needed any more.
        model.close()
        self._model = model

    def invoke_timed(self, pixels_one: np.ndarray) -> tuple[np.ndarray, float]:
        """Return the scores (classes,) for one image (H, W, C) and the invoke latency in ms."""
        quantized = quantize_input(pixels_one[np.newaxis], self.input)
        started = time.perf_counter_ns()
        raw = self._model.invoke(quantized[0])
        latency_ms = (time.perf_counter_ns() - started) / 1e6
        scores: np.ndarray = dequantize_output(raw, self.output)
        return scores, latency_ms

    def invoke_quantized(self, sample: np.ndarray) -> tuple[np.ndarray, float]:
        """Raw int8 outputs and latency (ms) for one int8 input (H, W, C)."""
        started = time.perf_counter_ns()
        raw = self._model.invoke(sample)
        return np.asarray(raw), (time.perf_counter_ns() - started) / 1e6
