"""Keras model builders for the catalog's architectures; keras is imported only inside functions.

Every model takes raw pixel values 0–255 as float32 and rescales them in its first layer, so an
int8 export's input scale/zero-point maps camera bytes straight onto the input tensor. Weights
are always initialised from scratch (`weights=None`): no pretrained weights can be downloaded.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tinymlaas.training.catalog import (
    CNN_SMALL,
    MOBILENET_V1,
    MOBILENET_V2,
    InvalidTrainingConfig,
    validate,
    validate_shape,
)

DROPOUT_RATE = 0.1
# cnn-small: filters of its three Conv-BN-ReLU-MaxPool blocks at alpha 1.0.
CNN_SMALL_FILTERS = (8, 16, 32)


@contextmanager
def _seeded_construction(seed: int | None) -> Iterator[None]:
    """Make Keras draw every initializer and dropout seed from `seed`, then restore the state.

    Keras 3 gives each unseeded initializer / SeedGenerator a seed drawn from Python's `random`
    when the layer is constructed, and then samples weights with stateless ops. Seeding that one
    source for the duration of the build makes the model deterministic without touching
    `keras.utils.set_random_seed` (which would also reseed NumPy and TensorFlow for the whole
    process). The previous state is restored afterwards, so callers see no change; the worker
    builds one model at a time, so no other thread draws from `random` meanwhile.
    """
    if seed is None:
        yield
        return
    saved = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(saved)


def _cnn_small_backbone(pixels: Any, alpha: float) -> Any:
    """Three Conv2D 3×3 (no bias: BatchNorm follows and folds into it) + BN + ReLU + MaxPool."""
    from keras import layers

    features = pixels
    for index, base_filters in enumerate(CNN_SMALL_FILTERS, start=1):
        filters = max(1, round(base_filters * alpha))
        features = layers.Conv2D(
            filters, 3, padding="same", use_bias=False, name=f"block{index}_conv"
        )(features)
        features = layers.BatchNormalization(name=f"block{index}_bn")(features)
        features = layers.ReLU(name=f"block{index}_relu")(features)
        features = layers.MaxPooling2D(2, name=f"block{index}_pool")(features)
    return features


def _mobilenet_v1_backbone(pixels: Any, alpha: float) -> Any:
    """Keras MobileNet (v1) without its top, from scratch, on the given tensor."""
    import keras

    backbone = keras.applications.MobileNet(
        input_tensor=pixels, alpha=alpha, include_top=False, weights=None
    )
    return backbone.output


def _mobilenet_v2_backbone(pixels: Any, alpha: float) -> Any:
    """Keras MobileNetV2 without its top, from scratch, on the given tensor."""
    import keras

    backbone = keras.applications.MobileNetV2(
        input_tensor=pixels, alpha=alpha, include_top=False, weights=None
    )
    return backbone.output


# (backbone, rescale factor, rescale offset): MobileNets expect [-1, 1], cnn-small [0, 1].
_BUILDERS: dict[str, tuple[Callable[[Any, float], Any], float, float]] = {
    CNN_SMALL: (_cnn_small_backbone, 1.0 / 255.0, 0.0),
    MOBILENET_V1: (_mobilenet_v1_backbone, 1.0 / 127.5, -1.0),
    MOBILENET_V2: (_mobilenet_v2_backbone, 1.0 / 127.5, -1.0),
}


def build_model(
    architecture: str,
    alpha: float,
    input_shape: tuple[int, int, int],
    num_classes: int,
    seed: int | None = None,
) -> Any:
    """Build an untrained keras.Model: raw pixels → rescaling → backbone → pooled softmax.

    Raises InvalidTrainingConfig for an unknown architecture, an alpha it does not offer, an
    input outside its limits, a channel count other than 1 or 3, or fewer than 2 classes.
    """
    height, width, channels = input_shape
    spec, effective_alpha = validate(architecture, alpha, width, height)
    validate_shape(channels, num_classes)
    import keras
    from keras import layers

    backbone, scale, offset = _BUILDERS[spec.id]
    with _seeded_construction(seed):
        pixels = keras.Input(shape=(height, width, channels), dtype="float32", name="pixels")
        rescaled = layers.Rescaling(scale, offset, name="rescale")(pixels)
        features = backbone(rescaled, effective_alpha)
        pooled = layers.GlobalAveragePooling2D(name="global_pool")(features)
        dropped = layers.Dropout(DROPOUT_RATE, name="dropout")(pooled)
        scores = layers.Dense(num_classes, activation="softmax", name="classifier")(dropped)
    name = f"{spec.id.replace('-', '_')}_{effective_alpha:g}_{height}x{width}x{channels}"
    return keras.Model(pixels, scores, name=name)


def recalibrate_batch_norm(model: Any, images: Any, batch_size: int = 32) -> None:
    """Set every BatchNormalization's moving mean/variance to their average over `images`.

    A from-scratch MobileNet's activations shrink through its depthwise layers until BatchNorm's
    moving statistics have adapted (momentum 0.99: hundreds of steps). Until then inference
    outputs are constant, and an int8 export gets activation scales near 1e-8, which TFLite-Micro
    cannot turn into fixed-point multipliers: it aborts the whole process (SIGABRT, not an
    exception). Running each batch of `images` (raw 0–255 float32, N×H×W×C) in training mode
    with momentum 0 leaves that batch's statistics in the moving ones; their mean over the
    batches becomes the moving statistics (the exact mean of the batch statistics). The batches
    run through the model's traced training-mode call (training/traced.py), traced once per
    model and set of trainable layers. Only BatchNorm state changes; weights are untouched.
    """
    import numpy as np
    from keras import layers

    from tinymlaas.training.traced import traced

    norms = [layer for layer in _all_layers(model) if isinstance(layer, layers.BatchNormalization)]
    if not norms or len(images) == 0:
        return
    saved = [layer.momentum for layer in norms]
    variant = ("batch statistics", tuple(layer.trainable for layer in norms))
    forward = traced(model)
    means = [np.zeros(layer.moving_mean.shape, np.float64) for layer in norms]
    variances = [np.zeros(layer.moving_variance.shape, np.float64) for layer in norms]
    batches = 0
    try:
        for layer in norms:
            layer.momentum = 0.0
        for start in range(0, len(images), batch_size):
            batch = np.asarray(images[start : start + batch_size], dtype=np.float32)
            forward(batch, training=True, variant=variant)
            batches += 1
            for layer, mean, variance in zip(norms, means, variances, strict=True):
                mean += layer.moving_mean.numpy()
                variance += layer.moving_variance.numpy()
        for layer, mean, variance in zip(norms, means, variances, strict=True):
            layer.moving_mean.assign((mean / batches).astype(np.float32))
            layer.moving_variance.assign((variance / batches).astype(np.float32))
    finally:
        for layer, momentum in zip(norms, saved, strict=True):
            layer.momentum = momentum


def _all_layers(model: Any) -> list[Any]:
    """Return the model's layers, descending into nested models."""
    found: list[Any] = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found.extend(_all_layers(layer))
    return found


def augmentation(
    flip: bool, rotation: float, zoom: float, brightness: float, seed: int | None
) -> Any | None:
    """Return a keras.Sequential of random augmentations for raw 0–255 images, or None if all off.

    It is applied to the training tf.data pipeline, outside the model, so exported models carry
    no augmentation layers. `rotation` is a fraction of a full turn (Keras' RandomRotation
    factor), `zoom` a fraction of the side (RandomZoom height factor, width follows to keep the
    aspect), `brightness` a fraction of the 0–255 range. Each layer gets its own seed derived
    from `seed`, so runs repeat without reseeding any global generator.
    """
    for field, value in (("rotation", rotation), ("zoom", zoom), ("brightness", brightness)):
        if not 0.0 <= value <= 1.0:
            raise InvalidTrainingConfig(
                f"augmentation.{field}",
                f"augmentation.{field} must be between 0 and 1, got {value}",
            )
    from keras import layers

    def layer_seed(offset: int) -> int | None:
        return None if seed is None else seed + offset

    steps: list[Any] = []
    if flip:
        steps.append(layers.RandomFlip("horizontal", seed=layer_seed(1), name="random_flip"))
    if rotation > 0:
        steps.append(
            layers.RandomRotation(
                rotation, fill_mode="reflect", seed=layer_seed(2), name="random_rotation"
            )
        )
    if zoom > 0:
        steps.append(
            layers.RandomZoom(zoom, fill_mode="reflect", seed=layer_seed(3), name="random_zoom")
        )
    if brightness > 0:
        steps.append(
            layers.RandomBrightness(
                brightness, value_range=(0, 255), seed=layer_seed(4), name="random_brightness"
            )
        )
    if not steps:
        return None
    import keras

    return keras.Sequential(steps, name="augmentation")
