"""The training job (worker side): TensorFlow is imported here, inside the task, only."""

from __future__ import annotations

import io
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.contracts import Augmentation, ImageCounts, TrainingConfig, TrainingInfo
from tinymlaas.jobs.context import JobCancelled, JobContext
from tinymlaas.models import TrainedModel
from tinymlaas.training import repository
from tinymlaas.training.data import Split, TrainingData, load_training_data
from tinymlaas.training.metrics import classification_report
from tinymlaas.training.scoring import loss_and_accuracy, predict

# Fractions of the job's progress bar spent on each stage.
LOADING, TRAINING, EVALUATING = 0.10, 0.85, 0.05


@dataclass(frozen=True)
class _Inputs:
    """What the job reads from the database before TensorFlow is imported."""

    model_id: int
    config: TrainingConfig
    classes: list[str]
    base_keras: bytes | None
    data: TrainingData


def run(ctx: JobContext) -> None:
    """Train the model row that belongs to this job and store the result."""
    started = time.perf_counter()
    inputs = _load_inputs(ctx)
    config, data = inputs.config, inputs.data
    if len(data.train) == 0:
        raise ValueError("no training images")
    ctx.raise_if_cancelled()

    keras = _import_keras()
    model = _build_or_load(keras, config, len(inputs.classes), inputs.base_keras)
    history = _fit(keras, model, data, config, ctx)
    ctx.progress(LOADING + TRAINING, "evaluating")
    _recalibrate(model, data)
    metrics = _evaluate(model, data, inputs.classes, history)
    keras_bytes = _save(model)
    versions = {"tensorflow": _tf_version(), "keras": keras.__version__}
    info = training_info(data, versions, round(time.perf_counter() - started, 2))
    parameter_count = int(model.count_params())

    def store(session: Session) -> None:
        row = session.get_one(TrainedModel, inputs.model_id)
        row.keras_sha256 = DatabaseBlobStore(session).put(keras_bytes).sha256
        row.parameter_count = parameter_count
        row.history = history
        row.metrics = metrics
        row.training_info = info

    ctx.store(store)


def _load_inputs(ctx: JobContext) -> _Inputs:
    """The job's model row, its base model's weights and its decoded images."""
    with ctx.factory() as session:
        row = repository.get_by_job(session, ctx.job_id)
        if row is None:
            raise LookupError(f"no model belongs to job {ctx.job_id}")
        if row.dataset_id is None:
            raise LookupError("the model's dataset was deleted")
        config, classes = row.config, list(row.classes)
        base_keras = None
        if row.base_model_id is not None:
            base = session.get(TrainedModel, row.base_model_id)
            if base is None or base.keras_sha256 is None:
                raise LookupError(f"base model {row.base_model_id} is gone")
            base_keras = DatabaseBlobStore(session).get(base.keras_sha256)
        ctx.progress(0.0, "loading images")
        data = load_training_data(
            session,
            row.dataset_id,
            classes,
            config,
            progress=lambda done: ctx.progress(LOADING * done, "loading images"),
        )
        return _Inputs(row.id, config, classes, base_keras, data)


def training_info(data: TrainingData, versions: dict[str, str], seconds: float) -> TrainingInfo:
    """What compiling needs to know about this training: the images it used, the versions."""
    return TrainingInfo(
        dataset_content_sha256=data.content_sha256,
        train_image_ids=tuple(data.train.ids),
        validation_image_ids=tuple(data.validation.ids),
        test_image_ids=tuple(data.test.ids) if data.test else (),
        validation_source=data.validation_source,
        image_counts=ImageCounts(
            train=len(data.train),
            validation=len(data.validation),
            test=len(data.test) if data.test else 0,
        ),
        versions=versions,
        duration_seconds=seconds,
    )


def _import_keras() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def _tf_version() -> str:
    import tensorflow as tf

    return str(tf.__version__)


def _build_or_load(keras: Any, config: TrainingConfig, num_classes: int, base: bytes | None) -> Any:
    if base is not None:
        from keras.src.saving import saving_lib

        model = saving_lib.load_model(io.BytesIO(base), compile=False)
    else:
        from tinymlaas.training.architectures import build_model

        model = build_model(
            config.architecture, config.alpha, config.input_shape, num_classes, seed=config.seed
        )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _fit(
    keras: Any, model: Any, data: TrainingData, config: TrainingConfig, ctx: JobContext
) -> list[dict[str, Any]]:
    import tensorflow as tf

    from tinymlaas.training.architectures import augmentation

    keras.utils.set_random_seed(config.seed)
    augment_config = config.augmentation or Augmentation()
    augment = augmentation(
        flip=augment_config.flip,
        rotation=augment_config.rotation,
        zoom=augment_config.zoom,
        brightness=augment_config.brightness,
        seed=config.seed,
    )
    train = tf.data.Dataset.from_tensor_slices((data.train.x, data.train.y))
    train = train.shuffle(len(data.train), seed=config.seed, reshuffle_each_iteration=True)
    train = train.batch(config.batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y))
    if augment is not None:
        train = train.map(lambda x, y: (augment(x, training=True), y))
    train = train.prefetch(2)
    validation = None
    if len(data.validation):
        validation = (data.validation.x.astype(np.float32), data.validation.y)

    steps = math.ceil(len(data.train) / config.batch_size)
    progress = _Progress(ctx, model, config.epochs, steps)
    model.fit(
        train,
        validation_data=validation,
        epochs=config.epochs,
        verbose=0,
        callbacks=[progress.callback(keras)],
        shuffle=False,
    )
    if progress.cancelled:
        raise JobCancelled
    return progress.history


class _Progress:
    """Reports per-epoch metrics and stops at the next batch when the job is cancelled.

    Plain methods wired into a keras LambdaCallback, so no class derives from Keras' untyped
    Callback.
    """

    def __init__(self, ctx: JobContext, model: Any, epochs: int, steps: int) -> None:
        self.ctx, self.model, self.epochs, self.steps = ctx, model, epochs, steps
        self.history: list[dict[str, Any]] = []
        self.cancelled = False
        self.epoch = 0
        self.last_report = time.monotonic()

    def callback(self, keras: Any) -> Any:
        return keras.callbacks.LambdaCallback(
            on_epoch_begin=self.on_epoch_begin,
            on_train_batch_end=self.on_train_batch_end,
            on_epoch_end=self.on_epoch_end,
        )

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch
        self.last_report = time.monotonic()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.ctx.cancel_requested():
            self.cancelled = True
            self.model.stop_training = True
        now = time.monotonic()
        if now - self.last_report > 2.0 and self.steps:
            self.last_report = now
            fraction = (self.epoch + (batch + 1) / self.steps) / self.epochs
            self.ctx.progress(
                LOADING + TRAINING * fraction,
                f"epoch {self.epoch + 1}/{self.epochs}, batch {batch + 1}",
            )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        entry: dict[str, Any] = {"epoch": epoch + 1}
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            value = logs.get(key)
            entry[key] = round(float(value), 6) if value is not None else None
        self.history.append(entry)
        self.ctx.event("metric", entry)
        self.ctx.progress(
            LOADING + TRAINING * (epoch + 1) / self.epochs,
            f"epoch {epoch + 1}/{self.epochs}",
            epoch=epoch + 1,
            epochs=self.epochs,
        )


RECALIBRATION_IMAGES = 256


def _recalibrate(model: Any, data: TrainingData) -> None:
    """Make BatchNorm's moving statistics those of the training images.

    After short trainings (a few hundred steps) the moving averages lag the weights, so the
    model predicts near chance at inference and an int8 export can get scales TFLite-Micro
    cannot handle (see architectures.recalibrate_batch_norm).
    """
    from tinymlaas.training.architectures import recalibrate_batch_norm

    count = min(len(data.train), RECALIBRATION_IMAGES)
    order = np.random.default_rng(0).permutation(len(data.train))[:count]
    recalibrate_batch_norm(model, data.train.x[np.sort(order)].astype(np.float32), batch_size=64)


def _evaluate(
    model: Any, data: TrainingData, classes: list[str], history: list[dict[str, Any]]
) -> dict[str, Any]:
    """Final metrics of the stored model; per-class and confusion on the held-out split."""
    held_out: Split = data.test if data.test is not None and len(data.test) else data.validation
    last = history[-1] if history else {}
    metrics: dict[str, Any] = {
        "accuracy": last.get("accuracy"),
        "loss": last.get("loss"),
        "val_accuracy": None,
        "val_loss": None,
        "evaluated_on": "test" if held_out is data.test else "validation",
        "evaluated_images": len(held_out),
        "batch_norm_recalibrated": True,
    }
    if len(data.validation):
        scores = predict(model, data.validation.x)
        metrics["val_loss"], metrics["val_accuracy"] = loss_and_accuracy(scores, data.validation.y)
    if len(held_out):
        scores = predict(model, held_out.x)
        report = classification_report(held_out.y, np.argmax(scores, axis=1), classes)
        metrics["per_class"] = report["per_class"]
        metrics["confusion_matrix"] = report["confusion_matrix"]
        metrics["held_out_accuracy"] = report["accuracy"]
        if held_out is data.test:
            metrics["test_accuracy"] = report["accuracy"]
    else:
        metrics["per_class"] = {}
        metrics["confusion_matrix"] = []
    return metrics


def _save(model: Any) -> bytes:
    """The .keras file as bytes, written to memory (never to the filesystem)."""
    from keras.src.saving import saving_lib

    buffer = io.BytesIO()
    saving_lib.save_model(model, buffer)
    return buffer.getvalue()
