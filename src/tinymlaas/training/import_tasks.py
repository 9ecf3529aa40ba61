"""The validation job of an imported .keras model (worker side: TensorFlow is imported here).

It loads the file with Keras (an upload Keras cannot load fails the job, and so the model, with
Keras's reason), checks that the model takes one NHWC image of 1 or 3 channels and gives one
score per class, and records its input, output and parameter count. The runner then marks the
model succeeded: it compiles like a trained one.
"""

from __future__ import annotations

import io
import math
import os
from typing import Any

from sqlalchemy.orm import Session

from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.contracts import IMPORTED_ARCHITECTURE, TensorFacts, TrainingConfig
from tinymlaas.jobs.context import JobContext
from tinymlaas.models import TrainedModel
from tinymlaas.training import repository
from tinymlaas.training.tflite_reader import MAX_INPUT_SIDE, MIN_INPUT_SIDE


class InvalidKerasModel(ValueError):
    """The imported .keras does not load or is not an image classifier we can compile."""


def run(ctx: JobContext) -> None:
    with ctx.factory() as session:
        model = repository.get_by_job(session, ctx.job_id)
        if model is None or model.keras_sha256 is None:
            raise LookupError(f"no imported .keras model belongs to job {ctx.job_id}")
        model_id, classes = model.id, list(model.classes)
        data = DatabaseBlobStore(session).get(model.keras_sha256)
    ctx.progress(0.2, "loading the .keras file")
    keras_model = _load(data)
    input_shape, output_shape = _shapes(keras_model)
    _check(input_shape, output_shape, len(classes))
    height, width, channels = input_shape[1:]
    config = TrainingConfig(
        architecture=IMPORTED_ARCHITECTURE,
        alpha=1.0,
        input_height=height,
        input_width=width,
        color_mode="grayscale" if channels == 1 else "rgb",
        epochs=0,
    )
    parameters = int(keras_model.count_params())

    def store(session: Session) -> None:
        row = session.get_one(TrainedModel, model_id)
        row.config = config
        row.parameter_count = parameters
        if row.imported is not None:
            row.imported = row.imported.model_copy(
                update={
                    "input": TensorFacts(shape=[1, *input_shape[1:]], dtype="float32"),
                    "output": TensorFacts(shape=[1, *output_shape[1:]], dtype="float32"),
                }
            )

    ctx.store(store)


def _load(data: bytes) -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from keras.src.saving import saving_lib

    try:
        return saving_lib.load_model(io.BytesIO(data), compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many kinds for a file it cannot load
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise InvalidKerasModel(
            f"Keras cannot load the imported file: {type(error).__name__}: {first[:300]}"
        ) from error


def _shapes(keras_model: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    inputs, outputs = keras_model.inputs, keras_model.outputs
    if len(inputs) != 1 or len(outputs) != 1:
        raise InvalidKerasModel(
            f"the model has {len(inputs)} inputs and {len(outputs)} outputs; exactly one of"
            " each is supported"
        )
    return tuple(inputs[0].shape), tuple(outputs[0].shape)


def _check(input_shape: tuple[Any, ...], output_shape: tuple[Any, ...], classes: int) -> None:
    if len(input_shape) != 4 or input_shape[3] not in (1, 3) or None in input_shape[1:]:
        raise InvalidKerasModel(
            f"the input has shape {list(input_shape)}; an image model's is [batch, height,"
            " width, channels] (NHWC) with fixed sides and 1 or 3 channels"
        )
    if not all(MIN_INPUT_SIDE <= side <= MAX_INPUT_SIDE for side in input_shape[1:3]):
        raise InvalidKerasModel(
            f"the input is {input_shape[2]}×{input_shape[1]} pixels; sides from"
            f" {MIN_INPUT_SIDE} to {MAX_INPUT_SIDE} are supported"
        )
    outputs = math.prod(side or 0 for side in output_shape[1:])
    if outputs != classes:
        raise InvalidKerasModel(
            f"the model has {outputs} outputs (output shape {list(output_shape)}) but"
            f" {classes} class names were given"
        )
