"""The C engine in the compile job (worker side): generate the C, prove it byte-identical with
TFLite-Micro on the held-out images, and measure it on the board's core."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinymlaas.contracts import Measured
from tinymlaas.engine import codegen, debug, host
from tinymlaas.engine.codegen import GeneratedLibrary
from tinymlaas.hardware.boards import Board

# Inputs checked when there are no held-out images (an imported model without a dataset).
RANDOM_CHECK_IMAGES = 8


class OutputMismatch(RuntimeError):
    """The generated C and TFLite-Micro gave different int8 outputs for one image."""


@dataclass(frozen=True)
class CEngineResult:
    library: GeneratedLibrary
    # The generated C's int8 scores for the held-out images (None without images).
    scores: np.ndarray | None
    measured: Measured | None


def generate(model: bytes) -> GeneratedLibrary:
    """The C library of an int8 .tflite; UnsupportedOperator names what the engine lacks."""
    return codegen.generate(model)


def build(
    model: bytes,
    library: GeneratedLibrary,
    pixels: np.ndarray,
    tflm_scores: np.ndarray,
    board: Board,
    ids: list[int] | None = None,
) -> CEngineResult:
    """Run the generated C on the host for every image and require TFLite-Micro's int8 bytes."""
    scores = host.predict(library, pixels)
    check_identical(model, library, pixels, scores, tflm_scores, ids)
    return CEngineResult(library, scores, _measure_on_core(library, board))


def random_pixels(library: GeneratedLibrary, seed: int = 0) -> np.ndarray:
    """Uniform uint8 images of the model's input shape, to check a model without a dataset."""
    shape = (RANDOM_CHECK_IMAGES, *library.input_shape[1:])
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def check_identical(
    model: bytes,
    library: GeneratedLibrary,
    pixels: np.ndarray,
    c_scores: np.ndarray,
    tflm_scores: np.ndarray,
    ids: list[int] | None = None,
) -> None:
    """Raise OutputMismatch naming the first differing image and operator."""
    ours = c_scores.reshape(len(c_scores), -1)
    theirs = np.asarray(tflm_scores).reshape(len(tflm_scores), -1)
    for position in range(len(ours)):
        if np.array_equal(ours[position], theirs[position].astype(np.int8)):
            continue
        sample = host.quantize_pixels(library, pixels[position : position + 1])[0]
        found = debug.first_difference(model, library, sample)
        where = f"operator {found[0]} ({found[1]})" if found else "the output copy"
        image = f"image {ids[position]}" if ids else f"input {position}"
        raise OutputMismatch(
            f"the generated C and TFLite-Micro give different int8 outputs for held-out {image}"
            f" (C {ours[position].tolist()}, TFLite-Micro {theirs[position].tolist()});"
            f" first differing {where}; compile it with the tflm engine"
        )


def _measure_on_core(library: GeneratedLibrary, board: Board) -> Measured | None:
    # The bare-metal QEMU measurement (engine/baremetal: flash, RAM, stack) plugs in here.
    return None
