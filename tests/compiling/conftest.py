"""Fixtures for the compiling tests: a tiny Keras CNN trained once on separable synthetic images.

TensorFlow is imported inside the fixtures, never at collection, so test modules elsewhere that
check the API process stays free of TensorFlow are not affected by merely collecting these.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

IMAGE_SIZE = 32
CLASS_COUNT = 3


@dataclass(frozen=True)
class Images:
    pixels: np.ndarray  # uint8 (N, H, W, 1)
    labels: np.ndarray  # int (N,)


@dataclass(frozen=True)
class TrainedModel:
    keras_model: Any
    float_accuracy: float  # Keras accuracy on the held-out images
    train: Images
    held_out: Images


def make_images(count: int, seed: int) -> Images:
    """Return grayscale images: class 0 bright top half, class 1 bright left half, 2 all dark."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASS_COUNT, count)
    # Dark noise everywhere, bright regions up to 255: the pixels span the full 0..255 range.
    pixels = rng.integers(0, 70, (count, IMAGE_SIZE, IMAGE_SIZE, 1), dtype=np.uint8)
    half = IMAGE_SIZE // 2
    for position, label in enumerate(labels):
        bright = rng.integers(170, 256, (IMAGE_SIZE, IMAGE_SIZE, 1), dtype=np.uint8)
        if label == 0:
            pixels[position, :half] = bright[:half]
        elif label == 1:
            pixels[position, :, :half] = bright[:, :half]
    return Images(pixels, labels)


@pytest.fixture(scope="session")
def images() -> Callable[[int, int], Images]:
    """Return the synthetic image factory."""
    return make_images


@pytest.fixture(scope="session")
def trained_model() -> TrainedModel:
    """Train a tiny CNN (Rescaling first, softmax over 3 classes) on raw 0..255 pixels."""
    import keras

    keras.utils.set_random_seed(7)
    train, held_out = make_images(480, seed=1), make_images(200, seed=2)
    model = keras.Sequential(
        [
            keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(4, 3, strides=2, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(CLASS_COUNT, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train.pixels.astype(np.float32), train.labels, epochs=6, batch_size=32, verbose=0)
    scores = model.predict(held_out.pixels.astype(np.float32), verbose=0)
    accuracy = float(np.mean(scores.argmax(axis=1) == held_out.labels))
    return TrainedModel(model, accuracy, train, held_out)


@pytest.fixture(scope="session")
def int8_model(trained_model: TrainedModel) -> bytes:
    """Return the trained model converted with full-int8 quantization."""
    from tinymlaas.compiling.tflite import convert

    return convert(trained_model.keras_model, "int8", trained_model.train.pixels[:300])


@pytest.fixture(scope="session")
def float32_model(trained_model: TrainedModel) -> bytes:
    """Return the trained model converted without quantization."""
    from tinymlaas.compiling.tflite import convert

    return convert(trained_model.keras_model, "float32", trained_model.train.pixels[:0])
