"""In-place convolutions, depthwise convolutions and pools: the same bytes as TFLite-Micro.

A chain of odd shapes (13×11 input, expanding and shrinking 1×1 convolutions, depthwise with
stride 1 and 2, SAME and VALID padding, a depth multiplier, pools) is generated with every
windowed operator run in place, then compared byte for byte with the TFLite-Micro
interpreter on the host, and with the host on the emulated Cortex-M4F.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tinymlaas.engine import host
from tinymlaas.engine.codegen import generate
from tinymlaas.engine.debug import first_difference
from tinymlaas.engine.reader import read_model

from support.engine_models import micro_outputs, pattern_images

pytestmark = pytest.mark.slow
WINDOWED = {"CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D"}


@pytest.fixture(scope="module")
def odd_chain() -> tuple[bytes, np.ndarray]:
    import keras

    from tinymlaas.compiling.tflite import convert

    keras.utils.set_random_seed(5)
    layers = keras.layers
    inputs = keras.Input((13, 11, 3), batch_size=1)
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(7, 1, activation="relu6")(x)  # pointwise, expanding 3 -> 7
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)  # stride 1
    x = layers.Conv2D(4, 1)(x)  # pointwise, shrinking 7 -> 4
    x = layers.DepthwiseConv2D(3, strides=2, padding="same")(x)  # 13×11 -> 7×6, padded
    x = layers.Conv2D(9, 3, padding="same", activation="relu")(x)  # 3×3, expanding
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x)  # 9 -> 18 channels
    x = layers.MaxPooling2D(2, strides=1, padding="same")(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="valid", activation="relu6")(x)  # 3×2
    x = layers.Conv2D(5, 3, strides=2, padding="same")(x)
    x = layers.AveragePooling2D(2, strides=1, padding="same")(x)
    x = layers.Flatten()(x)
    scores = layers.Dense(4)(x)  # logits: softmax would flatten untrained scores
    pixels = pattern_images(40, 13, 3, seed=21)[:, :, :11]
    model = convert(keras.Model(inputs, scores), "int8", pixels[2:34])
    return model, pixels


def test_every_windowed_operator_in_place_is_bit_exact(odd_chain: tuple[bytes, np.ndarray]) -> None:
    model, pixels = odd_chain
    library = generate(model, in_place="all")
    ordinary = generate(model, in_place="none")
    windowed = [op.index for op in read_model(model).operators if op.name in WINDOWED]
    assert len(windowed) == 10
    assert library.in_place_operators == tuple(windowed)
    assert ordinary.in_place_operators == ()
    assert "tml_inplace.c" in library.files
    assert "tml_inplace.c" not in ordinary.files  # no code linked for nothing
    assert library.files["tinymlaas_model.c"].count(", in place */") == 10

    inputs = host.quantize_pixels(library, pixels)
    ours = host.predict(library, pixels).reshape(len(pixels), -1)
    assert len({row.tobytes() for row in ours}) > len(pixels) // 2  # the scores vary
    assert np.array_equal(ours, micro_outputs(model, inputs))
    assert np.array_equal(ours, host.predict(ordinary, pixels).reshape(len(pixels), -1))
    for sample in inputs[:4]:  # every operator's output, not only the last
        assert first_difference(model, library, sample) is None


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="no QEMU")
def test_in_place_kernels_on_the_cortex_m4_equal_the_host(
    odd_chain: tuple[bytes, np.ndarray],
) -> None:
    from tinymlaas.engine.baremetal import measure
    from tinymlaas.hardware.boards import get_board

    model, pixels = odd_chain
    library = generate(model, in_place="all")
    board = get_board("nano33ble")
    inputs = host.quantize_pixels(library, pixels[2:4])
    expected = host.predict(library, pixels[2:4]).reshape(2, -1)
    for sample, row in zip(inputs, expected, strict=True):
        measured = measure(
            library.files, board.core, board.app_flash_bytes, board.ram_bytes, sample.tobytes()
        )
        assert measured.output == row.tobytes()
