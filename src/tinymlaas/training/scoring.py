"""Scores and figures of a trained model on images (pure: numpy, the model is any callable
that maps a float32 batch to class scores, as a Keras model does)."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class KerasLike(Protocol):
    def __call__(self, inputs: np.ndarray, *, training: bool) -> Any: ...


def predict(model: KerasLike, pixels: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Scores for uint8 pixels, calling the model directly (model.predict traces a new graph)."""
    parts = [
        np.asarray(model(pixels[start : start + batch_size].astype(np.float32), training=False))
        for start in range(0, len(pixels), batch_size)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def loss_and_accuracy(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    chosen = scores[np.arange(len(labels)), labels]
    loss = float(np.mean(-np.log(np.clip(chosen, 1e-7, 1.0))))
    return round(loss, 6), round(float(np.mean(np.argmax(scores, axis=1) == labels)), 6)
