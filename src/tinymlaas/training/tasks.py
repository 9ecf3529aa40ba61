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
from tinymlaas.config import Settings
from tinymlaas.contracts import Augmentation, ImageCounts, TrainingConfig, TrainingInfo
from tinymlaas.jobs.context import JobCancelled, JobContext
from tinymlaas.models import BaseWeights, TrainedModel
from tinymlaas.training import checkpoints, repository, transfer
from tinymlaas.training.checkpoints import Checkpoint
from tinymlaas.training.data import Split, TrainingData, load_training_data
from tinymlaas.training.epochs import LOADING, TRAINING, BestEpoch, EpochEnd, Progress
from tinymlaas.training.metrics import classification_report
from tinymlaas.training.scoring import loss_and_accuracy, predict
from tinymlaas.training.traced import build_training_state, traced


@dataclass(frozen=True)
class _Inputs:
    """What the job reads from the database before TensorFlow is imported."""

    model_id: int
    config: TrainingConfig
    classes: list[str]
    base_keras: bytes | None
    data: TrainingData
    checkpoint: bytes | None  # the latest epoch's, when the job was given back to the queue
    history: list[dict[str, Any]]
    uploaded_weights: bytes | None  # the uploaded base's HDF5 file, when config.weights is one


def run(ctx: JobContext) -> None:
    """Train the model row that belongs to this job and store the result."""
    started = time.perf_counter()
    inputs = _load_inputs(ctx)
    config, data = inputs.config, inputs.data
    if len(data.train) == 0:
        raise ValueError("no training images")
    ctx.raise_if_cancelled()

    keras = _import_keras()
    resumed = _resumable(inputs)
    started_from = f"{config.weights} (resumed from a checkpoint)"
    model = None if resumed is None else checkpoints.restore(resumed, ctx.job_id)
    if resumed is not None and model is not None:
        ctx.progress(LOADING, f"resuming after epoch {resumed.epoch}/{config.epochs}")
    else:
        resumed = None
        model = _build_or_load(keras, config, len(inputs.classes), inputs.base_keras)
        started_from = _start_weights(model, inputs)
    history, kept_epoch = _fit(keras, model, inputs, ctx, resumed)
    ctx.progress(LOADING + TRAINING, "evaluating")
    metrics = _evaluate(model, data, inputs.classes, history, kept_epoch)
    metrics["weights"] = started_from
    keras_bytes = _save(model)
    versions = {"tensorflow": _tf_version(), "keras": keras.__version__}
    info = training_info(data, versions, round(time.perf_counter() - started, 2))
    parameter_count = int(model.count_params())

    def store(session: Session) -> None:
        row = session.get_one(TrainedModel, inputs.model_id)
        blobs = DatabaseBlobStore(session)
        checkpoint = row.keras_sha256
        row.keras_sha256 = blobs.put(keras_bytes).sha256
        row.parameter_count = parameter_count
        row.history = history
        row.metrics = metrics
        row.training_info = info
        session.flush()
        if checkpoint and checkpoint != row.keras_sha256:
            blobs.release([checkpoint])

    ctx.store(store)


def _load_inputs(ctx: JobContext) -> _Inputs:
    """The job's model row, its base model's weights and its decoded images."""
    with ctx.factory() as session:
        row = repository.get_by_job(session, ctx.job_id)
        if row is None:
            raise LookupError(f"no model belongs to job {ctx.job_id}")
        if row.dataset_id is None and row.dataset_version_id is None:
            raise LookupError("the model's dataset was deleted")
        config, classes = row.config, list(row.classes)
        base_keras = None
        # A job given back to the queue (a worker stopped) left its latest epoch here.
        checkpoint = DatabaseBlobStore(session).get(row.keras_sha256) if row.keras_sha256 else None
        if row.base_model_id is not None:
            base = session.get(TrainedModel, row.base_model_id)
            if base is None or base.keras_sha256 is None:
                raise LookupError(f"base model {row.base_model_id} is gone")
            base_keras = DatabaseBlobStore(session).get(base.keras_sha256)
        uploaded = None
        if isinstance(config.weights, int):
            weights = session.get(BaseWeights, config.weights)
            if weights is None or weights.owner_id != row.owner_id:
                raise LookupError(f"base weights {config.weights} are gone")
            uploaded = DatabaseBlobStore(session).get(weights.sha256)
        ctx.progress(0.0, "loading images")
        data = load_training_data(
            session,
            row.dataset_id,
            classes,
            config,
            progress=lambda done: ctx.progress(LOADING * done, "loading images"),
            version_id=row.dataset_version_id,
        )
        return _Inputs(
            row.id, config, classes, base_keras, data, checkpoint, list(row.history), uploaded
        )


def _resumable(inputs: _Inputs) -> Checkpoint | None:
    """The checkpoint to continue from: one of these images, consistent with the history."""
    if inputs.checkpoint is None:
        return None
    found = Checkpoint.from_bytes(inputs.checkpoint)
    if (
        found is None
        or found.dataset_content_sha256 != (inputs.data.content_sha256 or "")
        or found.epoch != len(inputs.history)
        or not 0 < found.epoch <= inputs.config.epochs
    ):
        return None
    return found


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


def _start_weights(model: Any, inputs: _Inputs) -> str:
    """Fill a new model's backbone from its pretrained weights; what it started from."""
    config = inputs.config
    if config.weights == "none":
        return "none"
    if inputs.uploaded_weights is not None:
        layers = transfer.uploaded_layers(inputs.uploaded_weights, config)
        source = f"uploaded base weights {config.weights}"
    else:
        settings = Settings()
        filename, layers = transfer.imagenet_layers(
            config, settings.resolved_weights_dir, settings.weights_download
        )
        source = f"imagenet ({filename})"
    transfer.start_from(model, layers, config)
    return source


def _build_or_load(keras: Any, config: TrainingConfig, num_classes: int, base: bytes | None) -> Any:
    if base is not None:
        from keras.src.saving import saving_lib

        model = saving_lib.load_model(io.BytesIO(base), compile=False)
    else:
        from tinymlaas.training.architectures import build_model

        model = build_model(
            config.architecture, config.alpha, config.input_shape, num_classes, seed=config.seed
        )
    _compile(keras, model, config.learning_rate)
    return model


def _compile(keras: Any, model: Any, learning_rate: float) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def _train_dataset(config: TrainingConfig, data: TrainingData, first: int, last: int) -> Any:
    """Epochs [first, last) of the training images as one tf.data pipeline, shuffled, batched
    (and augmented). Each epoch's order depends on the seed and the epoch's number only, so a
    resumed training sees the images in the order an uninterrupted one would have."""
    import tensorflow as tf

    from tinymlaas.training.architectures import augmentation

    augment_config = config.augmentation or Augmentation()
    augment = augmentation(
        flip=augment_config.flip,
        rotation=augment_config.rotation,
        zoom=augment_config.zoom,
        brightness=augment_config.brightness,
        seed=config.seed,
    )
    count, seed = len(data.train), config.seed

    def epoch_order(epoch: Any) -> Any:
        order = tf.random.experimental.stateless_shuffle(tf.range(count), seed=[seed, epoch])
        return tf.data.Dataset.from_tensor_slices(order).batch(config.batch_size)

    images, labels = tf.constant(data.train.x), tf.constant(data.train.y)
    train = tf.data.Dataset.range(first, last).flat_map(epoch_order)
    train = train.map(
        lambda index: (tf.cast(tf.gather(images, index), tf.float32), tf.gather(labels, index))
    )
    if augment is not None:
        train = train.map(lambda x, y: (augment(x, training=True), y))
    # tf.data's autotuning (on by default; it tunes nothing here, every stage has a fixed size)
    # runs a thread that the iterator's teardown at the end of `fit` waits for: 0.7–10 s of
    # idle wall time in a third of the jobs (bench/README.md, `training_job_vs_keras.py`).
    options = tf.data.Options()
    options.autotune.enabled = False
    return train.prefetch(2).with_options(options)


def _fit(
    keras: Any, model: Any, inputs: _Inputs, ctx: JobContext, resumed: Checkpoint | None
) -> tuple[list[dict[str, Any]], int | None]:
    """Train (after the resumed checkpoint's epochs); the history of every epoch and the epoch
    whose weights the model now holds."""
    config, data = inputs.config, inputs.data
    keras.utils.set_random_seed(config.seed)

    steps = math.ceil(len(data.train) / config.batch_size)
    best = BestEpoch(config.restore_best_weights, config.early_stopping_patience)
    progress = Progress(ctx, model, config.epochs, steps, EpochEnd(data, best))
    if resumed is not None:
        best.resume(resumed)
        progress.history = inputs.history[: resumed.epoch]

    snapshots = checkpoints.Snapshots()

    def checkpoint(history: list[dict[str, Any]]) -> None:
        weights, optimizer = snapshots.arrays(model)
        saved = Checkpoint(
            keras=snapshots.keras(model),
            weights=weights,
            optimizer=optimizer,
            epoch=len(history),
            dataset_content_sha256=data.content_sha256 or "",
            best_epoch=best.epoch,
            best_loss=best.loss,
            best_weights=best.weights,
        )
        checkpoints.save(ctx, inputs.model_id, saved, history)

    progress.checkpoint = checkpoint
    initial = resumed.epoch if resumed else 0
    for phase in transfer.phases(config):
        if phase.last <= initial:
            continue
        # Each phase trains other layers at another rate; a resumed phase goes on with the
        # checkpoint's optimizer (its moments and iteration count).
        if config.weights != "none" and phase.first >= initial:
            transfer.set_phase(model, config, phase.frozen)
            _compile(keras, model, phase.learning_rate)
        first = max(phase.first, initial)
        build_training_state(model)
        model.fit(
            _train_dataset(config, data, first, phase.last),
            epochs=phase.last,
            initial_epoch=first,
            steps_per_epoch=steps,  # one pass over the dataset of all these epochs
            verbose=0,
            callbacks=[progress.callback(keras)],
            shuffle=False,
        )
        if progress.cancelled or model.stop_training:
            break
    if progress.cancelled:
        raise JobCancelled
    transfer.set_phase(model, config, None)
    kept = best.restore(model, len(progress.history))
    return progress.history, kept


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
        scores = predict(traced(model), data.validation.x)
        metrics["val_loss"], metrics["val_accuracy"] = loss_and_accuracy(scores, data.validation.y)
    if len(held_out):
        scores = predict(traced(model), held_out.x)
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
