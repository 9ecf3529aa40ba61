"""A Keras model's forward pass as traced TensorFlow functions, and Keras's own training step
traced once rather than twice (worker side).

Calling a Keras model eagerly dispatches its operators one by one: for a MobileNet v1 α0.25 at
96×96 that is 3× the time of the same batch through a traced function (bench/README.md,
`training_job_vs_keras.py`). Validation at every epoch's end and BatchNorm's recalibration call
the model a few times per epoch, so they call it through `traced(model)`: traced once per model
and mode, then reused for every batch and epoch. Each input batch may have any size (the batch
dimension is left open, so the last, smaller batch does not trace again).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Any

_TRACED: weakref.WeakKeyDictionary[Any, Traced] = weakref.WeakKeyDictionary()


class Traced:
    """Call like the model: `traced(model)(batch, training=False)`.

    A trace fixes what Python values the model read while it was traced — in training mode,
    BatchNorm's momentum and which layers are trainable — so a caller whose model changes those
    between calls passes them as `variant`: each variant gets its own trace.
    """

    def __init__(self, model: Any) -> None:
        # A weak reference: the traces must not keep the model (and this cache entry) alive.
        self._model = weakref.ref(model)
        self._shape = _input_shape(model)
        self._calls: dict[tuple[bool, Hashable], Callable[[Any], Any]] = {}

    def __call__(self, inputs: Any, *, training: bool, variant: Hashable = None) -> Any:
        key = (training, variant)
        call = self._calls.get(key)
        if call is None:
            call = self._calls[key] = self._trace(training)
        return call(inputs)

    def _trace(self, training: bool) -> Callable[[Any], Any]:
        import tensorflow as tf

        model = self._model

        def forward(inputs: Any) -> Any:
            return model()(inputs, training=training)  # type: ignore[misc]

        if self._shape is None:
            return tf.function(forward, reduce_retracing=True)  # type: ignore[no-any-return]
        signature = [tf.TensorSpec(self._shape, tf.float32)]
        return tf.function(forward, input_signature=signature)  # type: ignore[no-any-return]


def traced(model: Any) -> Traced:
    """The model's traced calls, made on first use and kept as long as the model lives."""
    found = _TRACED.get(model)
    if found is None:
        found = _TRACED[model] = Traced(model)
    return found


def _input_shape(model: Any) -> list[int | None] | None:
    """[None, height, width, channels] of a model with one image input; None when unknown."""
    try:
        shape = model.input_shape
    except (AttributeError, ValueError):
        return None
    if not isinstance(shape, tuple) or len(shape) != 4:
        return None
    return [None, *shape[1:]]


def build_training_state(model: Any) -> None:
    """Create a compiled model's optimizer, loss and metric variables now, before `fit` traces.

    Keras creates them lazily, while it traces the first training step; TensorFlow traces a
    function whose first trace created variables a second time, so each training paid for
    tracing its step twice: 3–4 s of a MobileNet v1 α0.25's 9–12 s first epoch on 2 cores
    (bench/README.md, `training_job_vs_keras.py`). One eager call on a blank example builds the
    loss tracker and the metrics (their totals are reset here, and by `fit` at every epoch).
    Call it after every `compile`; it leaves weights and BatchNorm statistics untouched.
    """
    import numpy as np

    shape = _input_shape(model)
    sides = [side for side in (shape or [])[1:] if side is not None]
    if shape is None or len(sides) != len(shape) - 1:
        return  # an input of unknown size: Keras builds all this in its first trace
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    blank = np.zeros([1, *sides], np.float32)
    label = np.zeros([1], np.int32)
    scores = model(blank, training=False)
    model.compute_loss(x=blank, y=label, y_pred=scores, training=False)
    model.compute_metrics(blank, label, scores, sample_weight=None)
    model.reset_metrics()
