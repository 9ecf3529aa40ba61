"""Per-epoch checkpoints of a training job, so a job given back to the queue resumes (worker side).

While the job runs, its model row's `keras_sha256` refers to the latest checkpoint and `history`
holds the finished epochs; the finished training replaces both. A worker stopped gracefully
(SIGTERM: a deploy, the server going away) puts its job back in the queue; the next worker to
take it continues after the last finished epoch instead of epoch 1. A checkpoint is one NumPy
`.npz`: the `.keras` file (optimizer state included) and the best epoch's weights.
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
    keras: bytes  # the model after `epoch` epochs, its optimizer state included
    epoch: int
    dataset_content_sha256: str
    best_epoch: int | None = None
    best_loss: float = float("inf")
    best_weights: list[np.ndarray] | None = None

    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {
            "keras": np.frombuffer(self.keras, dtype=np.uint8),
            "epoch": np.array(self.epoch),
            "dataset_content_sha256": np.array(self.dataset_content_sha256),
            "best_epoch": np.array(-1 if self.best_epoch is None else self.best_epoch),
            "best_loss": np.array(self.best_loss),
        }
        for index, weight in enumerate(self.best_weights or []):
            arrays[f"best_weight_{index:05d}"] = np.asarray(weight)
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Checkpoint | None:
        """The checkpoint in `data`, or None when it is not one (a finished model's file)."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                names = sorted(name for name in arrays.files if name.startswith("best_weight_"))
                best_epoch = int(arrays["best_epoch"])
                return cls(
                    keras=arrays["keras"].tobytes(),
                    epoch=int(arrays["epoch"]),
                    dataset_content_sha256=str(arrays["dataset_content_sha256"]),
                    best_epoch=None if best_epoch < 0 else best_epoch,
                    best_loss=float(arrays["best_loss"]),
                    best_weights=[arrays[name] for name in names] or None,
                )
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return None


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
