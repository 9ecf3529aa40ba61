"""Starting a training from pretrained weights (worker side, Keras imported inside functions).

The backbone's layers are filled from a Keras HDF5 file by name: Keras's ImageNet file from
the weights cache (downloaded there once when downloads are on), or a base the user uploaded.
A grayscale model's first convolution takes the file's RGB kernels summed over the colour
channels: a gray image is what the RGB network sees when all three channels carry the same
value g, and then Σ_c k_c·g = (Σ_c k_c)·g, so the first layer's outputs are unchanged.

Training then runs in two phases, as Keras's transfer-learning guide does:
1. **frozen** — the backbone is frozen and only the new classifier learns, for the first half
   of the epochs (rounded up). A fresh classifier's large early gradients would otherwise flow
   into the pretrained filters and wreck them before the head has learnt anything useful.
2. **fine-tuning** — the backbone's convolutions learn too, with the learning rate divided by
   10 (`FINE_TUNE_LR_FACTOR`), small enough to adapt the features without forgetting them.
   The half-and-half split and the factor of 10 are TensorFlow's own transfer-learning
   tutorial's choices for MobileNetV2 on a small dataset.
BatchNorm layers stay frozen in both phases: frozen, Keras runs them in inference mode with
the pretrained moving statistics, which the guide advises because a small dataset's batch
statistics would otherwise replace ImageNet's and destroy what the following layers learnt.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinymlaas.contracts import TrainingConfig
from tinymlaas.training import pretrained, weights_file

FROZEN_SHARE = 0.5
FINE_TUNE_LR_FACTOR = 0.1


class WeightsUnavailable(RuntimeError):
    """The starting weights a training asks for cannot be had; the message says how to."""


@dataclass(frozen=True)
class Phase:
    """Epochs [first, last) trained at this learning rate, with the backbone frozen or not."""

    first: int
    last: int
    learning_rate: float
    frozen: bool


def phases(config: TrainingConfig) -> list[Phase]:
    """The training's phases: one for random weights, frozen then fine-tuning otherwise."""
    if config.weights == "none":
        return [Phase(0, config.epochs, config.learning_rate, frozen=False)]
    frozen = max(1, math.ceil(config.epochs * FROZEN_SHARE))
    fine_tune = config.learning_rate * FINE_TUNE_LR_FACTOR
    return [
        Phase(0, frozen, config.learning_rate, frozen=True),
        Phase(frozen, config.epochs, fine_tune, frozen=False),
    ][: 2 if frozen < config.epochs else 1]


def imagenet_layers(
    config: TrainingConfig, weights_dir: Path, download: bool
) -> tuple[str, dict[str, list[np.ndarray]]]:
    """The ImageNet file's name and layers, fetched into the cache first if allowed."""
    try:
        file = pretrained.imagenet_file(
            config.architecture, config.alpha, config.input_width, config.input_height
        )
    except pretrained.NoPretrainedWeights as exc:
        raise WeightsUnavailable(str(exc)) from exc
    path = pretrained.cached_path(weights_dir, file)
    how = (
        f"download {file.url} where the internet is reachable and run"
        f" `tinymlaas weights import {file.filename}` on the server"
    )
    if path is None and not download:
        raise WeightsUnavailable(
            f"{file.filename} is not in the weights cache and downloads are off: {how}"
        )
    if path is None:
        path = _download(file, weights_dir, how)
    try:
        return file.filename, _vetted(weights_file.read_layers(path), config)
    except weights_file.UnsuitableWeights as exc:
        raise WeightsUnavailable(f"{file.filename} in the weights cache: {exc}") from exc


def uploaded_layers(data: bytes, config: TrainingConfig) -> dict[str, list[np.ndarray]]:
    """An uploaded base's layers, vetted again against this training's model."""
    return _vetted(weights_file.read_layers(io.BytesIO(data)), config)


def _vetted(
    layers: dict[str, list[np.ndarray]], config: TrainingConfig
) -> dict[str, list[np.ndarray]]:
    shapes = weights_file.shapes_of(layers)
    problems = weights_file.backbone_problems(
        shapes, config.architecture, config.alpha, config.channels
    )
    if problems:
        raise weights_file.UnsuitableWeights(
            f"not a {config.architecture} α{config.alpha:g} backbone: {'; '.join(problems[:3])}"
        )
    return layers


def _download(file: pretrained.ImagenetFile, weights_dir: Path, how: str) -> Path:
    """Fetch the file with Keras's own downloader into the cache; the path it is at."""
    import keras

    weights_dir.mkdir(parents=True, exist_ok=True)
    try:
        fetched = keras.utils.get_file(
            fname=file.filename, origin=file.url, cache_dir=str(weights_dir), cache_subdir="."
        )
    except Exception as exc:  # network errors come in many types; all mean the same here
        raise WeightsUnavailable(
            f"{file.filename} is not in the weights cache and could not be downloaded ({exc}):"
            f" {how}"
        ) from exc
    return Path(fetched)


def start_from(model: Any, layers: dict[str, list[np.ndarray]], config: TrainingConfig) -> None:
    """Put the file's backbone weights into the model, adapting the first convolution."""
    first = pretrained.FIRST_CONVOLUTION[config.architecture]
    for name in backbone_names(config):
        arrays = layers[name]
        if name == first and config.channels == 1 and arrays[0].shape[2] == 3:
            arrays = [arrays[0].sum(axis=2, keepdims=True)]
        model.get_layer(name).set_weights(arrays)


def backbone_names(config: TrainingConfig) -> list[str]:
    channels = config.channels
    return list(pretrained.backbone_layers(config.architecture, config.alpha, channels))


def set_phase(model: Any, config: TrainingConfig, frozen: bool | None) -> None:
    """Freeze the backbone (True), fine-tune it with BatchNorm frozen (False), or make every
    layer trainable again (None: what a stored model is, so continuing it trains it all)."""
    from keras import layers

    if config.weights == "none":
        return
    for name in backbone_names(config):
        layer = model.get_layer(name)
        if frozen is None:
            layer.trainable = True
        else:
            is_norm = isinstance(layer, layers.BatchNormalization)
            layer.trainable = not frozen and not is_norm
