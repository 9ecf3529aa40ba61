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
from tinymlaas.jobs.context import JobCancelled, JobContext
from tinymlaas.models import TrainedModel
from tinymlaas.training import repository
from tinymlaas.training.contracts import Augmentation, ImageCounts, TrainingConfig, TrainingInfo
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
    history, kept_epoch = _fit(keras, model, data, config, ctx)
    ctx.progress(LOADING + TRAINING, "evaluating")
    metrics = _evaluate(model, data, inputs.classes, history, kept_epoch)
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
) -> tuple[list[dict[str, Any]], int | None]:
    """Train; the history of every epoch and the epoch whose weights the model now holds."""
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

    steps = math.ceil(len(data.train) / config.batch_size)
    best = _BestEpoch(config.restore_best_weights, config.early_stopping_patience)
    progress = _Progress(ctx, model, config.epochs, steps, _EpochEnd(data, best))
    model.fit(
        train, epochs=config.epochs, verbose=0, callbacks=[progress.callback(keras)], shuffle=False
    )
    if progress.cancelled:
        raise JobCancelled
    kept = best.restore(model, len(progress.history))
    return progress.history, kept


class _BestEpoch:
    """The epoch with the lowest validation loss: its weights, and when to stop waiting."""

    def __init__(self, keep_weights: bool, patience: int | None) -> None:
        self.keep_weights, self.patience = keep_weights, patience
        self.epoch: int | None = None
        self.loss = math.inf
        self.weights: list[Any] | None = None
        self.epochs_without_better = 0

    def observe(self, model: Any, epoch: int, val_loss: float | None) -> bool:
        """Note an epoch's validation loss; whether training should stop now."""
        if val_loss is None:
            return False
        if val_loss < self.loss:
            self.epoch, self.loss, self.epochs_without_better = epoch, val_loss, 0
            if self.keep_weights:  # BatchNorm's moving statistics are weights too
                self.weights = model.get_weights()
            return False
        self.epochs_without_better += 1
        return self.patience is not None and self.epochs_without_better >= self.patience

    def restore(self, model: Any, last_epoch: int) -> int | None:
        """Put the best epoch's weights back if asked; the epoch the model now holds."""
        if self.weights is None or self.epoch is None:
            return last_epoch or None
        if self.epoch != last_epoch:
            model.set_weights(self.weights)
        return self.epoch


class _EpochEnd:
    """Makes the model what a user would get if training stopped here, then validates it.

    BatchNorm's moving statistics lag the weights by hundreds of steps (momentum 0.99), so a
    model validated as Keras leaves it scores near chance after a short training. Recalibrating
    them on the same training images at every epoch's end gives the figures of the model that
    would be stored (bench/batchnorm_validation.py measures this against other settings).
    """

    def __init__(self, data: TrainingData, best: _BestEpoch) -> None:
        self.validation, self.best = data.validation, best
        self.calibration = calibration_images(data.train)

    def __call__(self, model: Any, entry: dict[str, Any]) -> bool:
        """Fill the entry's validation figures; whether training should stop early."""
        from tinymlaas.training.architectures import recalibrate_batch_norm

        recalibrate_batch_norm(model, self.calibration, batch_size=CALIBRATION_BATCH)
        entry["val_loss"] = entry["val_accuracy"] = None
        if len(self.validation):
            scores = predict(model, self.validation.x)
            entry["val_loss"], entry["val_accuracy"] = loss_and_accuracy(scores, self.validation.y)
        return self.best.observe(model, entry["epoch"], entry["val_loss"])


class _Progress:
    """Reports per-epoch metrics and stops at the next batch when the job is cancelled.

    Plain methods wired into a keras LambdaCallback, so no class derives from Keras' untyped
    Callback.
    """

    def __init__(
        self, ctx: JobContext, model: Any, epochs: int, steps: int, epoch_end: _EpochEnd
    ) -> None:
        self.ctx, self.model, self.epochs, self.steps = ctx, model, epochs, steps
        self.epoch_end = epoch_end
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
        if self.cancelled:
            return
        logs = logs or {}
        entry: dict[str, Any] = {"epoch": epoch + 1}
        for key in ("loss", "accuracy"):
            value = logs.get(key)
            entry[key] = round(float(value), 6) if value is not None else None
        if self.epoch_end(self.model, entry):
            self.model.stop_training = True
        self.history.append(entry)
        self.ctx.event("metric", entry)
        self.ctx.progress(
            LOADING + TRAINING * (epoch + 1) / self.epochs,
            f"epoch {epoch + 1}/{self.epochs}",
            epoch=epoch + 1,
            epochs=self.epochs,
        )


# BatchNorm recalibration: this many training images, in batches of this size.
RECALIBRATION_IMAGES = 256
CALIBRATION_BATCH = 64


def calibration_images(train: Split) -> np.ndarray:
    """The training images BatchNorm's statistics are recalibrated on, as float32.

    After short trainings (a few hundred steps) the moving averages lag the weights, so the
    model predicts near chance at inference and an int8 export can get scales TFLite-Micro
    cannot handle (see architectures.recalibrate_batch_norm).
    """
    count = min(len(train), RECALIBRATION_IMAGES)
    order = np.random.default_rng(0).permutation(len(train))[:count]
    return train.x[np.sort(order)].astype(np.float32)


def _evaluate(
    model: Any,
    data: TrainingData,
    classes: list[str],
    history: list[dict[str, Any]],
    kept_epoch: int | None,
) -> dict[str, Any]:
    """Final metrics of the stored model (the kept epoch's); per-class and confusion on the
    held-out split."""
    held_out: Split = data.test if data.test is not None and len(data.test) else data.validation
    kept = history[kept_epoch - 1] if kept_epoch else {}
    metrics: dict[str, Any] = {
        "accuracy": kept.get("accuracy"),
        "loss": kept.get("loss"),
        "val_accuracy": None,
        "val_loss": None,
        "evaluated_on": "test" if held_out is data.test else "validation",
        "evaluated_images": len(held_out),
        "batch_norm_recalibrated": True,
        "kept_epoch": kept_epoch,
        "epochs_run": len(history),
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
