"""The issue's RAM and speed goals, measured: MobileNet v1 α0.25 96×96 gray on the emulated
Cortex-M4F needs at most 0.6× TFLite-Micro's arena in all (activations, data, bss and the
stack), below the layer-by-layer floor, with the same output bytes, about the same
instructions as without in-place execution, and at most 15 M instructions per inference."""

from __future__ import annotations

import shutil

import pytest

from tinymlaas.compiling.tflm import measure_arena
from tinymlaas.engine import host
from tinymlaas.engine.baremetal import Measurement, measure
from tinymlaas.engine.codegen import GeneratedLibrary, generate
from tinymlaas.hardware.boards import get_board

from support.engine_models import pattern_images

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="no QEMU"),
]
# TFLite-Micro's arena for this model on a 32-bit Cortex-M4 (issue 12; 85,456 B on the host).
TFLM_ARENA_32_BIT = 82_436
# The speed goal (issue 12): TFLite-Micro with CMSIS-NN takes 26.4 M on the same core.
INSTRUCTIONS_GOAL = 15_000_000


def _on_m4(library: GeneratedLibrary, sample: bytes) -> Measurement:
    board = get_board("nano33ble")
    return measure(
        library.files, board.core, board.app_flash_bytes, board.ram_bytes, sample, timeout_s=120
    )


def test_mobilenet_v1_96_gray_total_ram_is_below_six_tenths_of_tflite_micro(
    mobilenet_v1_96_gray: bytes,
) -> None:
    library = generate(mobilenet_v1_96_gray)
    assert library.floor_bytes == 55_296
    assert library.peak_bytes < library.floor_bytes  # below layer by layer
    assert library.in_place_saved_bytes == 55_296 - library.peak_bytes
    assert library.in_place_operators  # chosen by the planner, not forced
    host_arena = measure_arena(mobilenet_v1_96_gray).arena_bytes
    assert host_arena > TFLM_ARENA_32_BIT  # the same model as the figure

    pixels = pattern_images(2, 96, 1, seed=9)
    sample = host.quantize_pixels(library, pixels)[1].tobytes()
    measured = _on_m4(library, sample)

    total = measured.ram_bytes + measured.stack_bytes
    assert measured.ram_bytes == library.peak_bytes  # nothing static besides the buffer
    assert total <= 0.6 * TFLM_ARENA_32_BIT, f"{total} B in all"
    assert measured.output == host.predict(library, pixels[1:2]).tobytes()
    assert measured.instructions <= INSTRUCTIONS_GOAL, f"{measured.instructions:,} instructions"

    ordinary = _on_m4(generate(mobilenet_v1_96_gray, in_place="none"), sample)
    assert ordinary.output == measured.output
    assert measured.instructions <= 1.01 * ordinary.instructions  # no real speed loss
