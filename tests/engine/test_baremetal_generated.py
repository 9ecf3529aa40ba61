"""The code generator's C for a real int8 model, run on emulated Cortex-M cores."""

from __future__ import annotations

import numpy as np
import pytest

from tinymlaas.engine import host
from tinymlaas.engine.baremetal import measure
from tinymlaas.engine.codegen import generate
from tinymlaas.hardware.boards import get_board

from support.engine_models import IMAGE_SIZE, pattern_images

pytestmark = pytest.mark.slow  # builds a model with TensorFlow (shared with the other engine tests)


@pytest.mark.parametrize("board_id", ["nano33ble", "stm32f746-disco"])
def test_generated_model_on_the_board_core_equals_the_host(
    cnn_small_gray: bytes, board_id: str
) -> None:
    board = get_board(board_id)
    library = generate(cnn_small_gray)
    pixels = pattern_images(3, IMAGE_SIZE, 1, seed=5)
    inputs = host.quantize_pixels(library, pixels)
    expected = host.predict(library, pixels).reshape(len(pixels), -1)

    outputs = [
        measure(
            library.files,
            board.core,
            board.app_flash_bytes,
            board.ram_bytes,
            sample.astype(np.int8).tobytes(),
        )
        for sample in inputs
    ]

    assert [measured.output for measured in outputs] == [row.tobytes() for row in expected]
    first = outputs[0]
    assert first.weights_bytes == library.weights_bytes
    assert first.qparams_bytes == library.qparams_bytes
    assert first.ram_bytes == library.peak_bytes  # the one static activation buffer
    assert 0 < first.stack_bytes < 1024
    assert first.instructions > 1_000_000
    # Deterministic: the same input again counts the same to one timer tick; other inputs
    # differ a little only (data-dependent clamping branches).
    again = measure(
        library.files, board.core, board.app_flash_bytes, board.ram_bytes, inputs[0].tobytes()
    )
    assert abs(again.instructions - first.instructions) <= first.instructions_resolution
    counts = [measured.instructions for measured in outputs]
    assert max(counts) - min(counts) < 0.01 * first.instructions
