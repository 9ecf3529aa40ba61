"""Keras HDF5 weights files made without Keras: the layout Keras publishes its ImageNet
weights in (legacy HDF5, weights by layer name), filled with seeded random values."""

from __future__ import annotations

import io
from pathlib import Path

import h5py
import numpy as np

from tinymlaas.training import pretrained

NORM_WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")


def backbone_arrays(
    architecture: str, alpha: float, channels: int = 3, seed: int = 0
) -> dict[str, list[np.ndarray]]:
    """Random backbone weights of the right shapes (positive variances, gammas near 1)."""
    rng = np.random.default_rng(seed)
    layers: dict[str, list[np.ndarray]] = {}
    for name, shapes in pretrained.backbone_layers(architecture, alpha, channels).items():
        if len(shapes) == 4:
            size = shapes[0]
            layers[name] = [
                rng.uniform(0.8, 1.2, size),
                rng.normal(0, 0.1, size),
                rng.normal(0, 0.1, size),
                rng.uniform(0.5, 1.5, size),
            ]
        else:
            layers[name] = [rng.normal(0, 0.2, shapes[0])]
    return {name: [a.astype(np.float32) for a in arrays] for name, arrays in layers.items()}


def write_weights(
    target: Path | io.BytesIO,
    layers: dict[str, list[np.ndarray]],
    full_model: bool = False,
) -> None:
    """Write `layers` as Keras 2's save_weights did ("name/kernel:0" datasets), or under a
    `model_weights` group as `model.save("x.h5")` does."""
    with h5py.File(target, "w") as file:
        root = file.create_group("model_weights") if full_model else file
        if full_model:
            file.attrs["model_config"] = '{"class_name": "Functional"}'
        # Fixed-length byte strings, as Keras 2 wrote them (np.asarray of encoded names).
        root.attrs["layer_names"] = np.array([name.encode() for name in ["input_1", *layers]])
        root.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S1")
        for name, arrays in layers.items():
            group = root.create_group(name)
            kinds = NORM_WEIGHTS if len(arrays) == 4 else ("kernel",)
            names = [f"{name}/{kind}:0" for kind in kinds]
            group.attrs["weight_names"] = np.array([weight.encode() for weight in names])
            for weight, array in zip(names, arrays, strict=True):
                group.create_dataset(weight, data=array)


def weights_bytes(architecture: str, alpha: float, channels: int = 3, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    write_weights(buffer, backbone_arrays(architecture, alpha, channels, seed))
    return buffer.getvalue()
