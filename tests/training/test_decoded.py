"""Decoded images are kept per worker process between jobs: keyed by content, size and colour
mode, read-only, least recently used out first once over the budget."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tinymlaas.models import TrainedModel
from tinymlaas.training import data as training_data
from tinymlaas.training import decoded
from tinymlaas.training.data import load_training_data
from tinymlaas.training.decoded import DecodedImages

from conftest import Database
from support.factories import labelled_zip

API = "/api/v1"


def pixels(value: int, count: int = 4) -> np.ndarray:
    return np.full((count, 8, 8, 1), value, np.uint8)  # 256 bytes each at count 4


def test_least_recently_used_go_first_once_over_the_budget() -> None:
    cache = DecodedImages(budget_bytes=2 * 256)
    cache.put("a", pixels(1))
    cache.put("b", pixels(2))
    assert cache.get("a") is not None  # now "b" is the least recently used
    cache.put("c", pixels(3))
    assert cache.get("b") is None
    assert [int(cache.get(key)[0, 0, 0, 0]) for key in ("a", "c")] == [1, 3]  # type: ignore[index]
    assert cache.held_bytes == 2 * 256

    too_big = cache.put("d", pixels(4, count=12))
    assert cache.get("d") is None
    assert int(too_big[0, 0, 0, 0]) == 4
    assert cache.held_bytes == 2 * 256


def test_kept_pixels_are_read_only() -> None:
    cache = DecodedImages(budget_bytes=1024)
    kept = cache.put("a", pixels(1))
    with pytest.raises(ValueError, match="read-only"):
        kept[0, 0, 0, 0] = 9


def test_a_budget_of_zero_keeps_nothing() -> None:
    cache = DecodedImages(budget_bytes=0)
    cache.put("a", pixels(1))
    assert cache.get("a") is None


def test_the_key_names_content_order_size_and_colour_mode() -> None:
    key = DecodedImages.key
    base = key(["s1", "s2"], 32, 32, "grayscale")
    assert base == key(["s1", "s2"], 32, 32, "grayscale")
    others = {
        key(["s2", "s1"], 32, 32, "grayscale"),
        key(["s1", "s3"], 32, 32, "grayscale"),
        key(["s1", "s2"], 32, 48, "grayscale"),
        key(["s1", "s2"], 48, 32, "grayscale"),
        key(["s1", "s2"], 32, 32, "rgb"),
    }
    assert base not in others
    assert len(others) == 5


class NoBlobs:
    """A blob store that fails: a load that needs it did not come from the cache."""

    def __init__(self, session: Any) -> None:
        pass

    def get_many(self, shas: Any) -> Any:
        raise AssertionError("the images were read from the database again")


def test_a_second_load_of_the_same_images_decodes_nothing(
    client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decoded, "_shared", DecodedImages(budget_bytes=64 * 2**20))
    archive, _ = labelled_zip({"daisy": 4, "rose": 4})
    response = client.post(
        f"{API}/datasets/import",
        files={"file": ("f.zip", archive, "application/zip")},
        data={"name": "flowers"},
    )
    dataset_id = response.json()["id"]
    body = {"name": "m", "dataset_id": dataset_id, "architecture": "cnn-small"}
    model_id = client.post(f"{API}/models", json=body).json()["id"]

    with database.factory() as session:
        row = session.get_one(TrainedModel, model_id)
        classes, config = list(row.classes), row.config
        first = load_training_data(session, dataset_id, classes, config)
        monkeypatch.setattr(training_data, "DatabaseBlobStore", NoBlobs)
        again = load_training_data(session, dataset_id, classes, config)
        assert again.train.x is first.train.x
        assert again.validation.x is first.validation.x
        assert again.train.ids == first.train.ids
        np.testing.assert_array_equal(again.train.y, first.train.y)
        other_size = config.model_copy(update={"input_width": 64, "input_height": 64})
        with pytest.raises(AssertionError, match="read from the database again"):
            load_training_data(session, dataset_id, classes, other_size)
