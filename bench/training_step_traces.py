"""Benchmark: what the training job's two tracing-and-teardown fixes save, side by side in one
process (TensorFlow imported before the clock).

- **first epoch**: MobileNet v1 α0.25 96×96 grayscale, 480 random images, batch 32, Keras
  `fit` on the job's pipeline (`training.tasks._train_dataset`), with and without
  `training.traced.build_training_state` before it (without it, Keras creates the optimizer's and
  metrics' variables inside the first trace of its step, and TensorFlow traces the step again);
- **end of fit**: cnn-small, 3 epochs, the time from `on_train_end` to `fit` returning (the
  iterator's teardown) with tf.data's autotuning as the job sets it (off) and as TensorFlow's
  default (on), alternating.

    .venv/bin/python bench/training_step_traces.py
    .venv/bin/python bench/training_step_traces.py --rounds 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

import numpy as np

from tinymlaas.contracts import TrainingConfig
from tinymlaas.training.data import Split, TrainingData

IMAGES, SIDE, CLASSES = 480, 96, 4


def training_data() -> TrainingData:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (IMAGES, SIDE, SIDE, 1), dtype=np.uint8)
    y = rng.integers(0, CLASSES, IMAGES).astype(np.int32)
    empty = Split(np.zeros((0, SIDE, SIDE, 1), np.uint8), np.zeros(0, np.int32), [])
    names = [f"class{i}" for i in range(CLASSES)]
    return TrainingData(names, Split(x, y, list(range(IMAGES))), empty, None, "", "")


def compiled(keras: Any, architecture: str, alpha: float | None) -> Any:
    from tinymlaas.training.architectures import build_model

    model = build_model(architecture, alpha, (SIDE, SIDE, 1), CLASSES, seed=1)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.001),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def first_epoch(keras: Any, data: TrainingData, builds_state: bool) -> float:
    from tinymlaas.training.tasks import _train_dataset
    from tinymlaas.training.traced import build_training_state

    config = TrainingConfig(
        architecture="mobilenet-v1", alpha=0.25, input_width=SIDE, input_height=SIDE, seed=1
    )
    model = compiled(keras, "mobilenet-v1", 0.25)
    started = time.perf_counter()
    if builds_state:
        build_training_state(model)
    steps = -(-IMAGES // config.batch_size)
    model.fit(_train_dataset(config, data, 0, 1), epochs=1, steps_per_epoch=steps, verbose=0)
    return time.perf_counter() - started


def end_of_fit(keras: Any, data: TrainingData, autotune: bool) -> float:
    import tensorflow as tf

    from tinymlaas.training.tasks import _train_dataset
    from tinymlaas.training.traced import build_training_state

    config = TrainingConfig(
        architecture="cnn-small", alpha=1.0, input_width=SIDE, input_height=SIDE, seed=1
    )
    dataset = _train_dataset(config, data, 0, 3)
    if autotune:
        options = tf.data.Options()
        options.autotune.enabled = True
        dataset = dataset.with_options(options)
    assert dataset.options().autotune.enabled is autotune
    model = compiled(keras, "cnn-small", None)
    build_training_state(model)
    ended: list[float] = []
    marker = keras.callbacks.LambdaCallback(
        on_train_end=lambda logs: ended.append(time.perf_counter())
    )
    steps = -(-IMAGES // config.batch_size)
    model.fit(dataset, epochs=3, steps_per_epoch=steps, verbose=0, callbacks=[marker])
    return time.perf_counter() - ended[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    arguments = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    data = training_data()
    with_state, without = [], []
    for _ in range(arguments.rounds):
        without.append(first_epoch(keras, data, builds_state=False))
        with_state.append(first_epoch(keras, data, builds_state=True))
    print("MobileNet v1 α0.25 first epoch, s (Keras alone / state built first):")
    print("  " + ", ".join(f"{a:.2f} / {b:.2f}" for a, b in zip(without, with_state, strict=True)))
    ratio = statistics.median(without) / statistics.median(with_state)
    print(
        f"  medians {statistics.median(without):.2f} / {statistics.median(with_state):.2f} s:"
        f" {ratio:.2f}× faster with the state built first"
    )
    on, off = [], []
    for _ in range(arguments.rounds):
        on.append(end_of_fit(keras, data, autotune=True))
        off.append(end_of_fit(keras, data, autotune=False))
    print("cnn-small end of fit (iterator teardown), s (autotune on / off as the job sets it):")
    print("  " + ", ".join(f"{a:.3f} / {b:.3f}" for a, b in zip(on, off, strict=True)))
    print(
        f"  over 0.1 s: {sum(t > 0.1 for t in on)} of {len(on)} with autotuning,"
        f" {sum(t > 0.1 for t in off)} of {len(off)} without;"
        f" totals {sum(on):.2f} / {sum(off):.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
