"""What happens at each epoch's end of a training (worker side): honest validation figures,
the best epoch, progress reports and cancellation."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tinymlaas.jobs.context import JobContext
from tinymlaas.training.checkpoints import Checkpoint
from tinymlaas.training.data import Split, TrainingData
from tinymlaas.training.scoring import loss_and_accuracy, predict
from tinymlaas.training.traced import traced

# Fractions of the job's progress bar spent on each stage.
LOADING, TRAINING, EVALUATING = 0.10, 0.85, 0.05


class BestEpoch:
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

    def resume(self, checkpoint: Checkpoint) -> None:
        """Take up where the checkpoint's training left off."""
        self.epoch, self.loss, self.weights = (
            checkpoint.best_epoch,
            checkpoint.best_loss,
            checkpoint.best_weights,
        )
        if checkpoint.best_epoch is not None:
            self.epochs_without_better = checkpoint.epoch - checkpoint.best_epoch

    def restore(self, model: Any, last_epoch: int) -> int | None:
        """Put the best epoch's weights back if asked; the epoch the model now holds."""
        if self.weights is None or self.epoch is None:
            return last_epoch or None
        if self.epoch != last_epoch:
            model.set_weights(self.weights)
        return self.epoch


class EpochEnd:
    """Makes the model what a user would get if training stopped here, then validates it.

    BatchNorm's moving statistics lag the weights by hundreds of steps (momentum 0.99), so a
    model validated as Keras leaves it scores near chance after a short training. Recalibrating
    them on the same training images at every epoch's end gives the figures of the model that
    would be stored (bench/batchnorm_validation.py measures this against other settings).
    """

    def __init__(self, data: TrainingData, best: BestEpoch) -> None:
        self.validation, self.best = data.validation, best
        self.calibration = calibration_images(data.train)

    def __call__(self, model: Any, entry: dict[str, Any]) -> bool:
        """Fill the entry's validation figures; whether training should stop early."""
        from tinymlaas.training.architectures import recalibrate_batch_norm

        recalibrate_batch_norm(model, self.calibration, batch_size=CALIBRATION_BATCH)
        entry["val_loss"] = entry["val_accuracy"] = None
        if len(self.validation):
            scores = predict(traced(model), self.validation.x)
            entry["val_loss"], entry["val_accuracy"] = loss_and_accuracy(scores, self.validation.y)
        return self.best.observe(model, entry["epoch"], entry["val_loss"])


class Progress:
    """Reports per-epoch metrics and stops at the next batch when the job is cancelled.

    Plain methods wired into a keras LambdaCallback, so no class derives from Keras' untyped
    Callback.
    """

    def __init__(
        self, ctx: JobContext, model: Any, epochs: int, steps: int, epoch_end: EpochEnd
    ) -> None:
        self.ctx, self.model, self.epochs, self.steps = ctx, model, epochs, steps
        self.epoch_end = epoch_end
        self.history: list[dict[str, Any]] = []
        self.checkpoint: Callable[[list[dict[str, Any]]], None] | None = None
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
        # The last epoch's model is stored in full right after; a checkpoint of it (0.15 s
        # for a MobileNet) would be replaced at once.
        last = epoch + 1 >= self.epochs or self.model.stop_training
        if self.checkpoint is not None and not last:
            self.checkpoint(self.history)
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
