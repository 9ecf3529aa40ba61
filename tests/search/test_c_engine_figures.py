"""The search's recorded C engine figures against the engine itself: a model built, converted
and generated now, and its program measured on the Nano 33 BLE's core under QEMU. When the
planner, the code generator or the kernels change, this fails until
bench/c_engine_footprints.py is run again and search/c_engine_figures.py updated."""

from __future__ import annotations

import numpy as np
import pytest

from tinymlaas.engine import baremetal, code_size
from tinymlaas.engine.codegen import generate
from tinymlaas.hardware.boards import get_board
from tinymlaas.search import c_engine_figures

from support.engine_models import build_int8_model

pytestmark = pytest.mark.slow  # builds a model with TensorFlow


def test_recorded_figures_are_the_engines_own() -> None:
    # MobileNet v1 at 48 px: a PAD, an operator in place and the input's rescaling
    model = build_int8_model("mobilenet-v1", 0.1, 48, 1)
    library = generate(model)
    recorded = c_engine_figures.figures("mobilenet-v1", 0.1, 48, 1, 3)
    assert recorded is not None
    assert recorded.activation_bytes == library.peak_bytes
    assert recorded.weights_bytes == library.weights_bytes + library.qparams_bytes
    nano = get_board("nano33ble")
    measured = baremetal.measure(
        library.files, nano.core, nano.app_flash_bytes, nano.ram_bytes, bytes(library.input_size)
    )
    assert measured.ram_bytes == library.peak_bytes
    low, high = code_size.FIT_ERROR_BYTES
    assert low - 16 <= recorded.code_bytes - measured.code_bytes <= high + 16, measured
    assert measured.stack_bytes <= recorded.stack_bytes


def test_off_the_recorded_sizes_and_classes_it_scales() -> None:
    at_64 = c_engine_figures.figures("cnn-small", 1.0, 64, 1, 3)
    at_80 = c_engine_figures.figures("cnn-small", 1.0, 80, 1, 3)
    at_96 = c_engine_figures.figures("cnn-small", 1.0, 96, 1, 3)
    assert at_64 is not None
    assert at_80 is not None
    assert at_96 is not None
    assert at_64.activation_bytes < at_80.activation_bytes < at_96.activation_bytes
    assert at_80.activation_bytes == int(np.ceil(at_96.activation_bytes * 80**2 / 96**2 / 16) * 16)
    assert "scaled to 80×80" in at_80.basis
    four = c_engine_figures.figures("cnn-small", 1.0, 64, 1, 4)
    assert four is not None
    # 32 pooled features: 32 int8 weights and 8 B of requantization constants per class
    assert four.weights_bytes - at_64.weights_bytes == 40
    assert c_engine_figures.figures("cnn-small", 0.75, 64, 1, 3) is None
