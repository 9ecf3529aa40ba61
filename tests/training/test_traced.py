"""Keras's training step is traced once: `build_training_state` creates, before `fit`, every
variable Keras would otherwise create inside the step's first trace (which makes TensorFlow
trace the step a second time)."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from tinymlaas.training.architectures import build_model
from tinymlaas.training.traced import build_training_state


@contextmanager
def variables_created() -> Iterator[list[str]]:
    """The names of the TensorFlow variables created inside the block."""
    import tensorflow as tf

    names: list[str] = []

    def record(next_creator: Any, **kwargs: Any) -> Any:
        variable = next_creator(**kwargs)
        names.append(variable.name)
        return variable

    with tf.variable_creator_scope(record):
        yield names


def compiled_model(architecture: str, alpha: float | None) -> Any:
    import keras

    model = build_model(architecture, alpha, (32, 32, 1), 3, seed=1)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.001),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def fit_once(model: Any) -> Any:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (16, 32, 32, 1)).astype(np.float32)
    y = rng.integers(0, 3, 16).astype(np.int32)
    return model.fit(x, y, batch_size=8, epochs=1, verbose=0)


@pytest.mark.parametrize(("architecture", "alpha"), [("cnn-small", None), ("mobilenet-v1", 0.25)])
def test_fit_creates_no_variable_once_the_training_state_is_built(
    architecture: str, alpha: float | None
) -> None:
    unprepared = compiled_model(architecture, alpha)
    with variables_created() as lazily:
        fit_once(unprepared)
    assert lazily, "Keras no longer creates variables in fit: this function has no work left"

    model = compiled_model(architecture, alpha)
    before = [v.numpy().copy() for v in model.variables]
    build_training_state(model)
    unchanged = [np.array_equal(a, v.numpy()) for a, v in zip(before, model.variables, strict=True)]
    assert all(unchanged), "building the training state changed the model's weights or statistics"
    assert len(model.optimizer.variables) == len(unprepared.optimizer.variables)
    assert all(float(np.sum(v.numpy())) == 0.0 for v in model.metrics_variables)
    with variables_created() as created:
        history = fit_once(model)
    assert created == []
    assert np.isfinite(history.history["loss"]).all()
