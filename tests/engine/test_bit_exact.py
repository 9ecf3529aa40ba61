"""Generated C vs TFLite-Micro: byte-identical int8 outputs on every image.

Untrained models (batch-norm statistics set on the images) are enough for bit-exactness:
what matters is that the int8 scales are realistic, which the calibration on pattern images
ensures. Each model sees black, white, stripe, gradient and noise images.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinymlaas.engine import host
from tinymlaas.engine.codegen import generate

from support.engine_models import IMAGE_SIZE, assert_bit_exact, build_int8_model, pattern_images

pytestmark = pytest.mark.slow
IMAGES_PER_MODEL = 60


@pytest.mark.parametrize("channels", [1, 3], ids=["gray", "rgb"])
@pytest.mark.parametrize(
    ("architecture", "alpha"),
    [("cnn-small", 1.0), ("mobilenet-v1", 0.25), ("mobilenet-v2", 0.35)],
)
def test_catalog_models_are_bit_exact(architecture: str, alpha: float, channels: int) -> None:
    model = build_int8_model(architecture, alpha, IMAGE_SIZE, channels)
    assert_bit_exact(model, pattern_images(IMAGES_PER_MODEL, IMAGE_SIZE, channels, seed=7))


def test_other_operators_are_bit_exact() -> None:
    """Padding, depthwise with a depth multiplier, average pooling, residual add, dense relu."""
    import keras

    from tinymlaas.compiling.tflite import convert

    keras.utils.set_random_seed(3)
    inputs = keras.Input((12, 12, 3), batch_size=1)  # static shapes: a plain RESHAPE
    scaled = keras.layers.Rescaling(1 / 255)(inputs)
    padded = keras.layers.ZeroPadding2D(((1, 2), (2, 1)))(scaled)
    depthwise = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, activation="relu")(padded)
    pooled = keras.layers.AveragePooling2D(2, padding="same")(depthwise)
    branch = keras.layers.Conv2D(6, 1, activation="relu6")(pooled)
    summed = keras.layers.Add()([pooled, branch])
    maxed = keras.layers.MaxPooling2D(3, strides=2, padding="same")(summed)
    flat = keras.layers.Flatten()(maxed)
    hidden = keras.layers.Dense(8, activation="relu")(flat)
    scores = keras.layers.Dense(4, activation="softmax")(hidden)
    model = keras.Model(inputs, scores)
    pixels = pattern_images(40, 12, 3, seed=11)
    flatbuffer = convert(model, "int8", pixels[2:32])
    operators = set(generate(flatbuffer).operators)
    assert {"PAD", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "ADD", "RESHAPE"} <= operators
    assert_bit_exact(flatbuffer, pixels)


def test_quantize_pixels_matches_the_project_definition(cnn_small_gray: bytes) -> None:
    from tinymlaas.compiling.quantize import TensorInfo, quantize_input

    library = generate(cnn_small_gray)
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(2, axis=1)
    pixels = pixels.reshape(1, 32, 16, 1).repeat(2, axis=2)
    info = TensorInfo(
        library.input_shape, "int8", library.input_quantization.scale,
        library.input_quantization.zero_point,
    )  # fmt: skip
    assert np.array_equal(host.quantize_pixels(library, pixels), quantize_input(pixels, info))


def test_mobilenet_v1_96_gray_plans_at_the_floor() -> None:
    """The issue's anchor: MobileNet v1 α0.25 96×96 gray, per-operator floor 55,296 bytes."""
    library = generate(build_int8_model("mobilenet-v1", 0.25, 96, 1))
    assert library.floor_bytes == 55_296
    assert library.peak_bytes <= 1.05 * library.floor_bytes
