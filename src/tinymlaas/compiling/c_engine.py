"""The C engine in the compile job (worker side): generate the C, prove it byte-identical with
TFLite-Micro on the held-out images, and measure it on the board's core."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from tinymlaas.contracts import Measured
from tinymlaas.engine import baremetal, codegen, debug, host
from tinymlaas.engine.baremetal_build import FirmwareDoesNotFit
from tinymlaas.engine.codegen import GeneratedLibrary
from tinymlaas.hardware.boards import Board

log = logging.getLogger(__name__)

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
    first = host.quantize_pixels(library, pixels[:1])[0]
    return CEngineResult(library, scores, measure_on_core(library, board, first, scores[0]))


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


def measure_on_core(
    library: GeneratedLibrary, board: Board, first_input: np.ndarray, host_output: np.ndarray
) -> Measured | None:
    """The generated C built for the board's core and run once bare-metal under QEMU on the
    first held-out image; None where there is nothing to measure on (a core without an
    emulator: RP2040, Xtensa, the virtual board's host) or the program cannot be built for
    the board (it overflows its flash or RAM: the fit estimate says by how much)."""
    try:
        core = baremetal.emulated_core(board.core)
        result = baremetal.measure(
            library.files,
            board.core,
            board.app_flash_bytes,
            board.ram_bytes,
            np.ascontiguousarray(first_input, dtype=np.int8).tobytes(),
        )
    except (baremetal.CoreNotEmulated, FirmwareDoesNotFit) as exc:
        log.info("not measured on %s: %s", board.core, exc)
        return None
    return Measured(
        core=result.core,
        machine=result.machine,
        flash_bytes=result.flash_bytes,
        weights_bytes=result.weights_bytes + result.qparams_bytes,
        code_bytes=result.code_bytes,
        ram_bytes=result.ram_bytes + result.stack_bytes,
        stack_bytes=result.stack_bytes,
        instructions=result.instructions,
        latency_ms_estimate=round(result.latency_ms_estimate(board.clock_mhz), 3),
        cycles_per_instruction=core.cycles_per_instruction,
        outputs_match_host=result.output == np.asarray(host_output, np.int8).tobytes(),
    )
