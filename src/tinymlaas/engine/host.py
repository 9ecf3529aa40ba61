"""Run generated C on the host (worker side): build a shared library with `cc`, call it via ctypes.

The very sources a board compiles run here, so the compile job can compare their int8 outputs
byte for byte with TFLite-Micro's.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from tinymlaas.engine import arithmetic
from tinymlaas.engine.codegen import GeneratedLibrary

COMPILER_FLAGS = ("-std=c99", "-O2", "-fPIC", "-shared", "-Wall", "-Wextra", "-Werror")
COMPILE_TIMEOUT_SECONDS = 300


class HostBuildError(RuntimeError):
    """The host C compiler rejected the generated sources."""


class HostModel:
    """The generated library built for the host and loaded; `invoke` runs one int8 input."""

    def __init__(self, files: Mapping[str, str], input_size: int, output_size: int) -> None:
        self.input_size = input_size
        self.output_size = output_size
        self._directory = tempfile.mkdtemp(prefix="tml-host-")
        try:
            path = _build(files, Path(self._directory))
            self._library = ctypes.CDLL(str(path))
        except BaseException:
            shutil.rmtree(self._directory, ignore_errors=True)
            raise
        self._invoke = self._library.tml_invoke
        self._invoke.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self._invoke.restype = ctypes.c_int

    def invoke(self, sample: np.ndarray) -> np.ndarray:
        """Return the int8 output bytes for one int8 input (any shape of input_size elements)."""
        source = np.ascontiguousarray(sample, dtype=np.int8).ravel()
        if source.size != self.input_size:
            raise ValueError(
                f"the input has {source.size} values, the model takes {self.input_size}"
            )
        target = np.empty(self.output_size, dtype=np.int8)
        status = self._invoke(source.ctypes.data, target.ctypes.data)
        if status != 0:
            raise RuntimeError(f"tml_invoke returned {status}")
        return target

    def close(self) -> None:
        """Delete the build directory (the loaded library stays mapped until process exit)."""
        shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self) -> HostModel:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _build(files: Mapping[str, str], directory: Path) -> Path:
    for name, text in files.items():
        if "/" in name or name.startswith("."):
            raise ValueError(f"unexpected file name {name!r}")
        (directory / name).write_text(text, encoding="utf-8")
    sources = sorted(str(directory / name) for name in files if name.endswith(".c"))
    library = directory / "libtinymlaas_model.so"
    compiler = os.environ.get("CC", "cc")
    result = subprocess.run(
        [compiler, *COMPILER_FLAGS, "-o", str(library), *sources],
        capture_output=True,
        text=True,
        timeout=COMPILE_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        raise HostBuildError(f"cc failed: {result.stderr.strip()[:2000]}")
    return library


def quantize_pixels(library: GeneratedLibrary, pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels to the int8 input, with the arithmetic `compiling.quantize` uses too."""
    if pixels.dtype != np.uint8 or pixels.shape[1:] != library.input_shape[1:]:
        raise ValueError(
            f"pixels must be uint8 of shape (N, {', '.join(map(str, library.input_shape[1:]))})"
            f", got {pixels.dtype} {pixels.shape}"
        )
    quantization = library.input_quantization
    return arithmetic.quantize_pixels(pixels, quantization.scale, quantization.zero_point)


def load(library: GeneratedLibrary) -> HostModel:
    """Build and load a generated library."""
    return HostModel(library.files, library.input_size, library.output_size)


def predict(library: GeneratedLibrary, pixels: np.ndarray) -> np.ndarray:
    """Return int8 scores (N, *output_shape[1:]) for uint8 pixels (N, H, W, C)."""
    quantized = quantize_pixels(library, pixels)
    with load(library) as model:
        outputs = [model.invoke(sample) for sample in quantized]
    scores: np.ndarray = np.stack(outputs).reshape((len(quantized), *library.output_shape[1:]))
    return scores
