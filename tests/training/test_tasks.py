"""The training job's per-epoch figures and the epoch it keeps, through the API and a worker."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tinymlaas.training.epochs import BestEpoch

from support.jobs import wait_for_job
from support.models import start_training

pytestmark = pytest.mark.slow


def train(client: TestClient, **changes: object) -> dict[str, Any]:
    """Train a tiny cnn-small on generated patterns; the finished model."""
    accepted = start_training(client, **changes)
    job = wait_for_job(client, accepted["job_id"])
    assert job["status"] == "succeeded", job
    model: dict[str, Any] = client.get(f"/api/v1/models/{accepted['id']}").json()
    return model


def test_the_last_epoch_validates_the_model_that_is_stored(
    client: TestClient, local_worker: None
) -> None:
    model = train(client, restore_best_weights=False)
    history, metrics = model["history"], model["metrics"]
    assert [entry["epoch"] for entry in history] == [1, 2, 3, 4, 5, 6]
    assert model["config"]["restore_best_weights"] is False
    assert metrics["kept_epoch"] == 6
    # the curve a user watches ends on the figure the model reports, not at chance
    assert metrics["val_accuracy"] >= 0.8
    assert history[-1]["val_accuracy"] == pytest.approx(metrics["val_accuracy"], abs=0.01)
    assert history[-1]["val_loss"] == pytest.approx(metrics["val_loss"], abs=0.01)


def test_by_default_the_epoch_with_the_lowest_validation_loss_is_kept(
    client: TestClient, local_worker: None
) -> None:
    model = train(client)
    history, metrics = model["history"], model["metrics"]
    assert model["config"]["restore_best_weights"] is True
    best = min(history, key=lambda entry: entry["val_loss"])
    assert metrics["kept_epoch"] == best["epoch"]
    # with restore-best on, the reported figures are the kept epoch's, which may not be the last
    assert best["val_accuracy"] == pytest.approx(metrics["val_accuracy"], abs=0.01)
    assert best["val_loss"] == pytest.approx(metrics["val_loss"], abs=0.01)
    assert (metrics["accuracy"], metrics["loss"]) == (best["accuracy"], best["loss"])


class FakeModel:
    """Weights are one number; enough for the bookkeeping of the best epoch."""

    def __init__(self) -> None:
        self.weight = 0

    def get_weights(self) -> list[int]:
        return [self.weight]

    def set_weights(self, weights: list[int]) -> None:
        self.weight = weights[0]


@pytest.mark.parametrize(
    ("patience", "stops_after"),
    [(None, None), (1, 3), (2, 4)],
)
def test_early_stopping_waits_patience_epochs_without_a_lower_validation_loss(
    patience: int | None, stops_after: int | None
) -> None:
    model, best = FakeModel(), BestEpoch(keep_weights=True, patience=patience)
    stopped = None
    for epoch, val_loss in enumerate([0.9, 0.5, 0.6, 0.55, 0.7, 0.8], start=1):
        model.weight = epoch
        if best.observe(model, epoch, val_loss):
            stopped = epoch
            break
    assert stopped == stops_after
    assert best.restore(model, stopped or 6) == 2
    assert model.weight == 2


def test_without_restore_the_last_epoch_is_kept() -> None:
    model, best = FakeModel(), BestEpoch(keep_weights=False, patience=None)
    for epoch, val_loss in enumerate([0.5, 0.9], start=1):
        model.weight = epoch
        best.observe(model, epoch, val_loss)
    assert best.restore(model, 2) == 2
    assert model.weight == 2
