"""A training stopped after some epochs and resumed ends where an uninterrupted one does."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.jobs.context import JobContext
from tinymlaas.models import TrainedModel
from tinymlaas.training import checkpoints, tasks
from tinymlaas.training.checkpoints import Checkpoint

from support.factories import pattern_dataset_zip
from support.models import TINY_TRAINING
from support.weights import backbone_arrays, write_weights

pytestmark = pytest.mark.slow


class WorkerStopped(Exception):
    """What the test raises where a stopped worker would leave the task."""


class StoppingContext(JobContext):
    """A job's context that stops the task after `stop_after` finished epochs."""

    def __init__(self, *args: Any, stop_after: int | None = None) -> None:
        super().__init__(*args)
        self.stop_after, self.epochs, self.messages = stop_after, 0, []

    def progress(self, fraction: float, message: str, **data: Any) -> None:
        self.messages.append(message)
        super().progress(fraction, message, **data)

    def event(self, type_: str, data: dict[str, Any]) -> None:
        super().event(type_, data)
        if type_ == "metric":
            self.epochs += 1
            if self.epochs == self.stop_after:
                raise WorkerStopped


def final_weights(database: Any, model_id: int) -> list[np.ndarray]:
    from keras.src.saving import saving_lib

    with database.factory() as session:
        row = session.get_one(TrainedModel, model_id)
        data = DatabaseBlobStore(session).get(row.keras_sha256)
    weights: list[np.ndarray] = saving_lib.load_model(io.BytesIO(data)).get_weights()
    return weights


def resumed_and_whole(
    client: TestClient, database: Any, body: dict[str, Any], stop_after: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The final weights of a training stopped after `stop_after` epochs and resumed, and of
    the same training uninterrupted."""
    imported = client.post(
        "/api/v1/datasets/import",
        files={"file": ("p.zip", pattern_dataset_zip(per_class=12), "application/zip")},
        data={"name": "patterns"},
    ).json()
    body = body | {"dataset_id": imported["id"], "restore_best_weights": False}
    rows = [client.post("/api/v1/models", json=body).json() for _ in range(2)]
    whole, resumed = (row["job_id"] for row in rows)

    tasks.run(StoppingContext(whole, database.factory, "test"))
    with pytest.raises(WorkerStopped):
        tasks.run(StoppingContext(resumed, database.factory, "test", stop_after=stop_after))
    second = StoppingContext(resumed, database.factory, "test")
    tasks.run(second)

    assert f"resuming after epoch {stop_after}/{body['epochs']}" in second.messages
    return final_weights(database, rows[1]["id"]), final_weights(database, rows[0]["id"])


def assert_same(found: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(expected) == len(found)
    for want, have in zip(expected, found, strict=True):
        np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-6)


def test_a_resumed_training_ends_with_the_weights_of_an_uninterrupted_one(
    client: TestClient, database: Any
) -> None:
    # the Adam moments and iteration count, the Dropout seed and the image order all go on
    body = TINY_TRAINING | {"epochs": 5, "restore_best_weights": False}
    assert_same(*resumed_and_whole(client, database, body, stop_after=2))


@pytest.mark.parametrize("stop_after", [1, 3], ids=["frozen", "fine-tuning"])
def test_a_resumed_transfer_training_goes_on_in_its_phase(
    client: TestClient,
    database: Any,
    stop_after: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TINYMLAAS_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("TINYMLAAS_WEIGHTS_DOWNLOAD", "false")
    buffer = io.BytesIO()
    write_weights(buffer, backbone_arrays("mobilenet-v1", 0.25, seed=12))
    base = client.post("/api/v1/weights", files={"file": ("mine.h5", buffer.getvalue())})
    body = {
        "name": "transfer",
        "architecture": "mobilenet-v1",
        "alpha": 0.25,
        "input_width": 32,
        "input_height": 32,
        "color_mode": "rgb",
        "batch_size": 8,
        "epochs": 4,  # two frozen, two fine-tuning
        "learning_rate": 0.01,
        "seed": 3,
        "weights": base.json()["id"],
    }
    assert_same(*resumed_and_whole(client, database, body, stop_after))


def test_a_checkpoint_whose_arrays_do_not_fit_its_model_is_not_resumed() -> None:
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    model.fit(np.ones((4, 4)), np.ones((4, 3)), verbose=0)
    snapshots = checkpoints.Snapshots()
    weights, optimizer = snapshots.arrays(model)
    fitting = Checkpoint(snapshots.keras(model), 1, "", weights=weights, optimizer=optimizer)
    restored = checkpoints.restore(Checkpoint.from_bytes(fitting.to_bytes()) or fitting, 1)
    assert restored is not None
    for want, have in zip(
        optimizer, [v.numpy() for v in restored.optimizer.variables], strict=True
    ):
        np.testing.assert_array_equal(have, want)

    short = Checkpoint(fitting.keras, 1, "", weights=weights[:1], optimizer=optimizer)
    assert checkpoints.restore(short, 1) is None
    reshaped = [np.zeros((2, 2))] + optimizer[1:]
    mismatched = Checkpoint(fitting.keras, 1, "", weights=weights, optimizer=reshaped)
    assert checkpoints.restore(mismatched, 1) is None
