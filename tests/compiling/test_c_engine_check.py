"""The compile job's check that the generated C gives TFLite-Micro's bytes, image by image."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from tinymlaas.compiling import c_engine
from tinymlaas.engine import codegen, host
from tinymlaas.engine.codegen import SOURCE_NAME
from tinymlaas.hardware.boards import get_board

from support.engine_models import build_int8_model, micro_outputs, pattern_images

SIZE = 24

# Converting the model imports TensorFlow (a few seconds).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def int8_model() -> bytes:
    return build_int8_model("cnn-small", 0.5, SIZE, 1)


def test_identical_outputs_pass_and_give_the_c_scores(int8_model: bytes) -> None:
    library = codegen.generate(int8_model)
    pixels = pattern_images(10, SIZE, 1, seed=3)
    reference = micro_outputs(int8_model, host.quantize_pixels(library, pixels))

    result = c_engine.build(int8_model, library, pixels, reference, get_board("nano33ble"))

    assert np.array_equal(result.scores.reshape(10, -1), reference)  # type: ignore[union-attr]
    measured = result.measured  # the Nano 33 BLE's core, emulated
    assert measured is not None
    assert (measured.core, measured.outputs_match_host) == ("cortex-m4f", True)
    assert measured.flash_bytes == measured.weights_bytes + measured.code_bytes
    assert measured.ram_bytes >= library.peak_bytes + measured.stack_bytes


def test_a_difference_names_the_first_image_and_operator(int8_model: bytes) -> None:
    library = codegen.generate(int8_model)
    # Corrupt the first weight of the first convolution: the C now computes another model.
    source = library.files[SOURCE_NAME]
    match = re.search(r"tml_weight_\w+\[\d+\] = \{\n\s*(-?\d+)", source)
    assert match is not None
    value = int(match.group(1))
    start, end = match.span(1)
    corrupted = source[:start] + str(-value if value else 100) + source[end:]
    broken = dataclasses.replace(library, files={**library.files, SOURCE_NAME: corrupted})
    pixels = pattern_images(6, SIZE, 1, seed=4)
    reference = micro_outputs(int8_model, host.quantize_pixels(library, pixels))
    scores = host.predict(broken, pixels)
    first = int(np.flatnonzero(np.any(scores.reshape(6, -1) != reference, axis=1))[0])

    with pytest.raises(c_engine.OutputMismatch) as raised:
        c_engine.check_identical(
            int8_model, broken, pixels, scores, reference, [10, 11, 12, 13, 14, 15]
        )

    message = str(raised.value)
    assert f"held-out image {10 + first} " in message
    assert "first differing operator 0 (CONV_2D)" in message
    assert "compile it with the tflm engine" in message
