"""The training images as one tf.data pipeline over several epochs: each epoch is every image
once, in an order given by the seed and the epoch's number alone (a resumed training sees what
an uninterrupted one would), and nothing in it waits on tf.data's autotuning thread."""

from __future__ import annotations

import numpy as np

from tinymlaas.contracts import TrainingConfig
from tinymlaas.training.data import Split, TrainingData
from tinymlaas.training.tasks import _train_dataset

COUNT, BATCH = 10, 4


def training_data() -> TrainingData:
    # Each image's pixels hold its own index, so a batch says which images it holds.
    x = np.arange(COUNT, dtype=np.uint8).reshape(COUNT, 1, 1, 1) * np.ones((1, 8, 8, 1), np.uint8)
    train = Split(x, np.arange(COUNT, dtype=np.int32) % 2, list(range(COUNT)))
    empty = Split(np.zeros((0, 8, 8, 1), np.uint8), np.zeros(0, np.int32), [])
    return TrainingData(["a", "b"], train, empty, None, "seeded split of train", "sha")


def epoch_orders(config: TrainingConfig, first: int, last: int) -> list[list[int]]:
    steps = -(-COUNT // BATCH)
    batches = [
        x[:, 0, 0, 0].numpy().astype(int).tolist()
        for x, _ in _train_dataset(config, training_data(), first, last)
    ]
    return [sum(batches[start : start + steps], []) for start in range(0, len(batches), steps)]


def test_every_epoch_is_every_image_once_in_an_order_of_the_seed_and_epoch() -> None:
    config = TrainingConfig(architecture="cnn-small", alpha=1.0, batch_size=BATCH, seed=7)
    orders = epoch_orders(config, 0, 3)
    assert [sorted(order) for order in orders] == [list(range(COUNT))] * 3
    assert len({tuple(order) for order in orders}) == 3
    assert epoch_orders(config, 1, 3) == orders[1:]  # resumed after the first epoch
    other_seed = TrainingConfig(architecture="cnn-small", alpha=1.0, batch_size=BATCH, seed=8)
    assert epoch_orders(other_seed, 0, 3) != orders


def test_the_pipeline_does_not_autotune() -> None:
    config = TrainingConfig(architecture="cnn-small", alpha=1.0, batch_size=BATCH)
    dataset = _train_dataset(config, training_data(), 0, 1)
    assert dataset.options().autotune.enabled is False
