"""Engine test helpers: tiny real int8 models, realistic-looking images, the bit-exact check.

Models are built with the project's own architectures and converter, calibrated on the same
kind of images they are tested on (so the int8 scales are realistic). TensorFlow is imported
inside the functions only.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinymlaas.engine import host
from tinymlaas.engine.codegen import generate
from tinymlaas.engine.debug import first_difference

IMAGE_SIZE = 32


def pattern_images(count: int, size: int, channels: int, seed: int) -> np.ndarray:
    """uint8 images (N, size, size, channels): stripes, gradients and noise, black and white."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:size, 0:size].astype(np.float64)
    images = np.empty((count, size, size, channels), np.uint8)
    for position in range(count):
        frequency = rng.uniform(0.05, 0.6)
        phase = rng.uniform(0.0, 2 * np.pi)
        tilt = rng.uniform(0.3, 1.7)
        base = 127 + 110 * np.sin(frequency * columns + phase) * np.cos(frequency * tilt * rows)
        noise = rng.normal(0, rng.uniform(2, 40), (size, size, channels))
        images[position] = np.clip(base[..., np.newaxis] + noise, 0, 255).astype(np.uint8)
    images[0] = 0
    images[1] = 255
    return images


def build_int8_model(architecture: str, alpha: float, size: int, channels: int) -> bytes:
    """An untrained model of the catalog, batch-norm statistics set on images, int8-converted."""
    from tinymlaas.compiling.tflite import convert
    from tinymlaas.training.architectures import build_model, recalibrate_batch_norm

    model = build_model(architecture, alpha, (size, size, channels), 3, seed=0)
    calibration = pattern_images(48, size, channels, seed=100)
    recalibrate_batch_norm(model, calibration.astype(np.float32))
    return convert(model, "int8", calibration)


def micro_outputs(model: bytes, inputs: np.ndarray) -> np.ndarray:
    """Raw int8 outputs (N, elements) of TFLite-Micro's interpreter for int8 inputs."""
    from tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(model)
    outputs = []
    for sample in inputs:
        interpreter.reset()
        interpreter.set_input(np.ascontiguousarray(sample[np.newaxis]), 0)
        interpreter.invoke()
        outputs.append(np.array(interpreter.get_output(0), copy=True).ravel())
    return np.stack(outputs).astype(np.int8)


def assert_bit_exact(model: bytes, pixels: np.ndarray) -> None:
    """Every image gives byte-identical int8 outputs from the generated C and TFLite-Micro."""
    library = generate(model)
    inputs = host.quantize_pixels(library, pixels)
    ours = host.predict(library, pixels).reshape(len(pixels), -1)
    reference = micro_outputs(model, inputs)
    differing = np.flatnonzero(np.any(ours != reference, axis=1))
    if differing.size:
        first = int(differing[0])
        operator = first_difference(model, library, inputs[first])
        pytest.fail(
            f"{differing.size}/{len(pixels)} images differ; first: image {first} "
            f"(C {ours[first].tolist()} vs TFLite-Micro {reference[first].tolist()}), "
            f"first differing operator {operator}"
        )
