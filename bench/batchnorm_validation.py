"""Benchmark: what honest per-epoch validation figures cost, three ways, side by side.

A short training leaves BatchNorm's moving statistics (momentum 0.99) far behind the weights, so
Keras' own per-epoch validation scores a model nobody would get: near chance. Per architecture,
on the same generated images (`training_job_vs_keras.generate_dataset`), same seed and epochs:

- **keras (baseline)**: `model.fit(validation_data=...)` as training did before: what it costs,
  and the figures it showed;
- **recalibrate**: what the training job does now: at each epoch's end, BatchNorm's statistics
  are recalibrated on 256 training images in batches of 64 (`recalibrate_batch_norm`), then the
  validation images are scored (`scoring.predict`), both through the model's traced call
  (`training/traced.py`) as the job does; run with `PYTHONPATH` at an older commit's `src/` to
  measure its eager calls;
- **momentum M**: no recalibration, every BatchNorm built with momentum M (a setting meant to
  need none), validated by Keras as in the baseline.

Every way trains without `validation_data` and produces its figures at each epoch's end, timed
apart (the baseline runs `model.evaluate`, which is what `fit` runs for `validation_data`).
Printed per way: training and validation seconds per epoch, the validation time's ratio to the
baseline's and the whole epoch's, the validation accuracy of every epoch, and `gap`: how far the
last epoch's figure is from the accuracy of the same weights after a recalibration (what the
stored model scores; 0 means the curve tells the truth). Fastest of `--repeat` interleaved runs.

    .venv/bin/python bench/batchnorm_validation.py
    .venv/bin/python bench/batchnorm_validation.py --architectures cnn-small:1 --epochs 8
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from training_job_vs_keras import (
    IMAGE_SIDE,
    VALIDATION_SPLIT,
    generate_dataset,
    parse_architecture,
    stratified_split,
)

CALIBRATION_IMAGES = 256
CALIBRATION_BATCH = 64


@dataclass
class Way:
    name: str
    train_seconds: float  # per epoch
    validation_seconds: float  # per epoch: what it takes to produce the epoch's figures
    val_accuracy: list[float]
    gap: float


def build(
    keras: Any, architecture: str, alpha: float | None, classes: int, momentum: float | None,
    seed: int,
) -> Any:  # fmt: skip
    from tinymlaas.training.architectures import _all_layers, build_model

    model = build_model(architecture, alpha, (IMAGE_SIDE, IMAGE_SIDE, 1), classes, seed=seed)
    if momentum is not None:
        for layer in _all_layers(model):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = momentum
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.001),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Scored as the training job scores (through the model's traced call since 2026-12-02)."""
    from tinymlaas.training.scoring import loss_and_accuracy, predict

    try:
        from tinymlaas.training.traced import traced
    except ImportError:  # an older commit's src/ on PYTHONPATH: its job called the model eagerly
        return loss_and_accuracy(predict(model, x), y)[1]
    return loss_and_accuracy(predict(traced(model), x), y)[1]


def train(
    keras: Any,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    spec: tuple[str, float | None, int],
    way: str,
    epochs: int,
    seed: int,
) -> Way:
    """Train `epochs` epochs of `spec` (architecture, alpha, classes); each epoch's end produces
    its figures the `way` says, timed."""
    architecture, alpha, classes = spec
    from tinymlaas.training.architectures import recalibrate_batch_norm

    x_train, y_train, x_val, y_val = data
    calibration = x_train[:CALIBRATION_IMAGES]
    momentum = float(way.split()[1]) if way.startswith("momentum") else None
    keras.utils.set_random_seed(seed)
    model = build(keras, architecture, alpha, classes, momentum, seed)
    figures: list[float] = []
    validating = [0.0]

    def on_epoch_end(epoch: int, logs: dict[str, Any] | None = None) -> None:
        started = time.perf_counter()
        if way == "recalibrate":
            recalibrate_batch_norm(model, calibration, batch_size=CALIBRATION_BATCH)
            figures.append(accuracy(model, x_val, y_val))
        else:  # what `fit(validation_data=...)` runs at each epoch's end
            figures.append(float(model.evaluate(x_val, y_val, batch_size=32, verbose=0)[1]))
        validating[0] += time.perf_counter() - started

    started = time.perf_counter()
    model.fit(
        x_train,
        y_train,
        batch_size=32,
        epochs=epochs,
        callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)],
        verbose=0,
    )
    total = time.perf_counter() - started
    recalibrate_batch_norm(model, calibration, batch_size=CALIBRATION_BATCH)
    stored = accuracy(model, x_val, y_val)
    return Way(
        way,
        (total - validating[0]) / epochs,
        validating[0] / epochs,
        figures,
        abs(figures[-1] - stored),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--architectures", default="cnn-small:1,mobilenet-v2:0.35")
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--momentum", default="0.9,0.5")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeat", type=int, default=2)
    arguments = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from tinymlaas.training.preprocess import batch_to_pixels

    dataset = generate_dataset(arguments.images, arguments.classes, arguments.seed)
    pixels = batch_to_pixels(
        (data for _, data, _ in dataset.entries), IMAGE_SIDE, IMAGE_SIDE, "grayscale"
    )
    labels = np.array([label for _, _, label in dataset.entries], dtype=np.int32)
    train_index, held = stratified_split(labels, VALIDATION_SPLIT, arguments.seed)
    data = (
        pixels[train_index].astype(np.float32),
        labels[train_index],
        pixels[held].astype(np.float32),
        labels[held],
    )
    ways = ["keras", "recalibrate"] + [f"momentum {m}" for m in arguments.momentum.split(",")]
    print(
        f"{arguments.images} images {IMAGE_SIDE}×{IMAGE_SIDE}×1, {arguments.classes} classes,"
        f" {len(held)} validation, {arguments.epochs} epochs, batch 32"
    )
    for text in arguments.architectures.split(","):
        architecture, alpha = parse_architecture(text)
        spec = (architecture, alpha, arguments.classes)
        train(keras, data, spec, "keras", 1, arguments.seed)
        best: dict[str, Way] = {}
        for _ in range(arguments.repeat):  # interleaved, fastest kept: the machine is shared
            for way in ways:
                result = train(keras, data, spec, way, arguments.epochs, arguments.seed)
                if way not in best or result.validation_seconds < best[way].validation_seconds:
                    best[way] = result
        baseline = best["keras"]
        print(f"\n{text}")
        print(
            f"{'way':<14} {'train s':>8} {'val s':>6} {'ratio':>6} {'epoch ratio':>11}"
            f" {'gap':>5}  validation accuracy by epoch"
        )
        for result in best.values():
            curve = " ".join(f"{value:.2f}" for value in result.val_accuracy)
            epoch = result.train_seconds + result.validation_seconds
            baseline_epoch = baseline.train_seconds + baseline.validation_seconds
            print(
                f"{result.name:<14} {result.train_seconds:>8.2f} {result.validation_seconds:>6.2f}"
                f" {result.validation_seconds / baseline.validation_seconds:>6.2f}"
                f" {epoch / baseline_epoch:>11.2f} {result.gap:>5.2f}  {curve}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
