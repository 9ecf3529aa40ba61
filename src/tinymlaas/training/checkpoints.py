"""Per-epoch checkpoints of a training job, so a job given back to the queue resumes (worker side).

While the job runs, its model row's `keras_sha256` refers to the latest checkpoint and `history`
holds the finished epochs; the finished training replaces both. A worker stopped gracefully
(SIGTERM: a deploy, the server going away) puts its job back in the queue; the next worker to
take it continues after the last finished epoch instead of epoch 1. A checkpoint is one NumPy
`.npz`: a `.keras` file (the architecture, which layers train, the optimizer's configuration),
the model's variables and the optimizer's variables (Adam's moments, its iteration count) after
`epoch` epochs, and the best epoch's weights. Writing a `.keras` costs ~0.15 s for a MobileNet,
the arrays alone a tenth of that, so the `.keras` is written once per phase (its first
checkpoint, and whenever training compiles a new optimizer) and reused by later checkpoints.
"""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.db.session import UNREACHABLE, transaction
from tinymlaas.jobs.context import JobContext
from tinymlaas.models import TrainedModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkpoint:
    keras: bytes  # the model's structure and optimizer; its state when `weights` is None
    epoch: int
    dataset_content_sha256: str
    best_epoch: int | None = None
    best_loss: float = float("inf")
    best_weights: list[np.ndarray] | None = None
    # model.variables after `epoch` epochs: its weights, BatchNorm's moving statistics and the
    # random layers' seed states (Dropout's masks go on as they would have without a stop)
    weights: list[np.ndarray] | None = None
    optimizer: list[np.ndarray] | None = None  # the optimizer's variables after `epoch` epochs

    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {
            "keras": np.frombuffer(self.keras, dtype=np.uint8),
            "epoch": np.array(self.epoch),
            "dataset_content_sha256": np.array(self.dataset_content_sha256),
            "best_epoch": np.array(-1 if self.best_epoch is None else self.best_epoch),
            "best_loss": np.array(self.best_loss),
        }
        for prefix, values in (
            ("best_weight", self.best_weights),
            ("weight", self.weights),
            ("optimizer", self.optimizer),
        ):
            for index, value in enumerate(values or []):
                arrays[f"{prefix}_{index:05d}"] = np.asarray(value)
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Checkpoint | None:
        """The checkpoint in `data`, or None when it is not one (a finished model's file)."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:

                def listed(prefix: str) -> list[np.ndarray] | None:
                    names = sorted(name for name in arrays.files if name.startswith(prefix))
                    return [arrays[name] for name in names] or None

                best_epoch = int(arrays["best_epoch"])
                return cls(
                    keras=arrays["keras"].tobytes(),
                    epoch=int(arrays["epoch"]),
                    dataset_content_sha256=str(arrays["dataset_content_sha256"]),
                    best_epoch=None if best_epoch < 0 else best_epoch,
                    best_loss=float(arrays["best_loss"]),
                    best_weights=listed("best_weight_"),
                    weights=listed("weight_"),
                    optimizer=listed("optimizer_"),
                )
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return None


class Snapshots:
    """Takes a checkpoint's model state; the `.keras` only when the optimizer is a new one."""

    def __init__(self) -> None:
        self._optimizer: Any = None
        self._keras = b""

    def keras(self, model: Any) -> bytes:
        if model.optimizer is not self._optimizer:
            from keras.src.saving import saving_lib

            buffer = io.BytesIO()
            saving_lib.save_model(model, buffer)
            self._optimizer, self._keras = model.optimizer, buffer.getvalue()
        return self._keras

    @staticmethod
    def arrays(model: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The model's variables and its optimizer's, as NumPy copies."""
        return _values(model.variables), _values(model.optimizer.variables)


def restore(checkpoint: Checkpoint, job_id: int) -> Any | None:
    """The model (compiled, its optimizer's state included) as the checkpoint left it; None,
    with the reason logged, when its arrays do not fit its `.keras` (training starts again)."""
    from keras.src.saving import saving_lib

    try:
        model = saving_lib.load_model(io.BytesIO(checkpoint.keras), compile=True)
        if checkpoint.weights is None:
            return model  # a checkpoint of the whole `.keras`
        optimizer = model.optimizer
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        pairs = [
            (model.variables, checkpoint.weights, "model variables"),
            (optimizer.variables, checkpoint.optimizer or [], "optimizer variables"),
        ]
        for variables, values, what in pairs:
            _check_fit(variables, values, what)
        for variables, values, _ in pairs:
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)
        return model
    except Exception as exc:  # a damaged or foreign file: Keras raises many types
        log.warning("job %s: checkpoint not resumed, %s; training starts again", job_id, exc)
        return None


def _values(variables: list[Any]) -> list[np.ndarray]:
    return [np.array(variable.numpy()) for variable in variables]


def _check_fit(variables: list[Any], values: list[np.ndarray], what: str) -> None:
    """Raise ValueError unless `values` can be assigned to `variables`, one by one."""
    if len(variables) != len(values):
        raise ValueError(f"{len(values)} {what} stored, the model has {len(variables)}")
    for index, (variable, value) in enumerate(zip(variables, values, strict=True)):
        if tuple(variable.shape) != np.shape(value):
            shape = tuple(variable.shape)
            raise ValueError(f"{what} {index} is {np.shape(value)}, the model's is {shape}")


def save(ctx: JobContext, model_id: int, checkpoint: Checkpoint, history: list[Any]) -> None:
    """Make `checkpoint` and `history` the row's; skipped while the database is unreachable."""
    data = checkpoint.to_bytes()
    try:
        with transaction(ctx.factory) as session:
            row = session.get_one(TrainedModel, model_id)
            blobs = DatabaseBlobStore(session)
            previous = row.keras_sha256
            row.keras_sha256 = blobs.put(data).sha256
            row.history = list(history)
            session.flush()
            if previous and previous != row.keras_sha256:
                blobs.release([previous])
    except UNREACHABLE as exc:
        log.warning("job %s: checkpoint skipped, database unreachable: %s", ctx.job_id, exc)
