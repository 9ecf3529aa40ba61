"""Every training records the dataset version it learns from, and reads its images from it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tinymlaas.config import Settings
from tinymlaas.datasets import versions
from tinymlaas.models import TrainedModel
from tinymlaas.training.data import load_training_data

from conftest import Database
from support.factories import image_bytes, labelled_zip
from support.jobs import wait_for_job
from support.models import start_training

API = "/api/v1"


def import_flowers(client: TestClient, per_class: int = 3) -> int:
    data, _ = labelled_zip({"daisy": per_class, "rose": per_class})
    response = client.post(
        f"{API}/datasets/import",
        files={"file": ("f.zip", data, "application/zip")},
        data={"name": "flowers"},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def train(client: TestClient, dataset_id: int, name: str) -> dict[str, Any]:
    """Queue a training (no worker runs) and return the model as the API shows it."""
    body = {"name": name, "dataset_id": dataset_id, "architecture": "cnn-small"}
    response = client.post(f"{API}/models", json=body)
    assert response.status_code == 202, response.text
    model: dict[str, Any] = client.get(f"{API}/models/{response.json()['id']}").json()
    return model


def test_a_version_is_made_only_when_the_dataset_changed(
    client: TestClient, database: Database
) -> None:
    dataset_id = import_flowers(client)
    first, second = train(client, dataset_id, "a"), train(client, dataset_id, "b")
    assert (first["dataset_version"], second["dataset_version"]) == (1, 1)
    assert first["dataset_version_id"] == second["dataset_version_id"]
    version = client.get(f"{API}/datasets/{dataset_id}/versions/1").json()
    assert (version["note"], version["image_count"]) == ("used to train 'a'", 6)
    assert [model["name"] for model in version["models"]] == ["a", "b"]

    client.post(
        f"{API}/datasets/{dataset_id}/images",
        files=[("files", ("new.png", image_bytes(color=(1, 2, 3)), "image/png"))],
        data={"folder": "daisy"},
    )
    assert train(client, dataset_id, "c")["dataset_version"] == 2
    images = client.get(f"{API}/datasets/{dataset_id}/images", params={"folder": "daisy"})
    new = next(item for item in images.json()["items"] if item["path"] == "daisy/new.png")
    client.patch(f"{API}/datasets/{dataset_id}/images/{new['id']}", json={"folder": "rose"})
    third = train(client, dataset_id, "d")  # relabelled: a change too
    assert third["dataset_version"] == 3
    # the version a request made is what its job reads: labelled rows by image id
    with database.factory() as session:
        rows = versions.labelled_rows(session, third["dataset_version_id"])
    assert [label for _, _, label, _ in rows].count("rose") == 4
    assert [image_id for image_id, _, _, _ in rows] == sorted(row[0] for row in rows)


@contextmanager
def running_worker(settings: Settings) -> Iterator[None]:
    """A local worker started now (the local_worker fixture starts with the test)."""
    from tinymlaas.jobs.worker import local_worker_loop

    stop = threading.Event()
    thread = threading.Thread(target=local_worker_loop, args=(settings, stop), daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=120)


@pytest.mark.slow
def test_a_job_learns_from_its_version_even_if_the_dataset_changes_while_it_waits(
    client: TestClient, settings: Settings
) -> None:
    accepted = start_training(client)  # queued: no worker runs yet
    model = client.get(f"/api/v1/models/{accepted['id']}").json()
    dataset_id = model["dataset_id"]
    assert model["dataset_version"] == 1
    for folder in ("dark", "bright", "left"):  # the dataset is emptied while the job waits
        client.delete(f"/api/v1/datasets/{dataset_id}/folders/{folder}?recursive=true")

    with running_worker(settings):
        job = wait_for_job(client, accepted["job_id"])
        assert job["status"] == "succeeded", job
        compiled = client.post(
            f"/api/v1/models/{accepted['id']}/compile", json={"board": "virtual"}
        ).json()
        job = wait_for_job(client, compiled["job_id"])
        assert job["status"] == "succeeded", job
    trained = client.get(f"/api/v1/models/{accepted['id']}").json()
    assert trained["metrics"]["evaluated_images"] > 0
    assert sum(trained["metrics"]["per_class"][name]["support"] for name in trained["classes"]) > 0
    files = f"/api/v1/compiled/{compiled['id']}/files"
    manifest = json.loads(client.get(f"{files}/manifest.json").content)
    assert manifest["dataset"]["id"] == dataset_id
    assert manifest["dataset"]["version"] == 1
    shown = client.get(f"/api/v1/compiled/{compiled['id']}").json()
    assert shown["accuracy"]["images"] == trained["metrics"]["evaluated_images"]


def test_a_queued_training_keeps_its_images_when_the_dataset_is_deleted(
    client: TestClient, database: Database
) -> None:
    dataset_id = import_flowers(client, per_class=4)
    model = train(client, dataset_id, "m")
    client.post(f"{API}/jobs/{model['job_id']}/cancel")  # only to delete the dataset under it
    assert client.delete(f"{API}/datasets/{dataset_id}").status_code == 204
    shown = client.get(f"{API}/models/{model['id']}").json()
    assert (shown["dataset_id"], shown["dataset_version"]) == (None, 1)

    with database.factory() as session:
        row = session.get_one(TrainedModel, model["id"])
        data = load_training_data(
            session, None, row.classes, row.config, version_id=row.dataset_version_id
        )
    assert len(data.train) + len(data.validation) == 8
    assert data.train.x.shape[1:] == (96, 96, 1)
    assert sorted(set(data.train.y.tolist()) | set(data.validation.y.tolist())) == [0, 1]
