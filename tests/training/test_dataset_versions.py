"""Every training records the dataset version it learns from, and reads its images from it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tinymlaas.auth.service import create_user
from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.config import Settings
from tinymlaas.datasets import service as datasets
from tinymlaas.datasets import versions
from tinymlaas.models import Dataset, Image, User
from tinymlaas.training import service
from tinymlaas.training.schemas import ModelCreate

from support.factories import image_bytes
from support.jobs import wait_for_job
from support.models import start_training


@pytest.fixture
def owner(session: Session) -> User:
    return create_user(session, "trainer", "a-long-password")


def add_image(session: Session, dataset: Dataset, folder: str, name: str, shade: int) -> Image:
    blob = DatabaseBlobStore(session).put(image_bytes(color=(shade, 10, 10)))
    image = Image(
        dataset_id=dataset.id, folder=folder, name=name, label=folder, split=None, width=16,
        height=12, format="PNG", size_bytes=blob.size_bytes, sha256=blob.sha256,
    )  # fmt: skip
    session.add(image)
    session.flush()
    return image


def train(session: Session, owner: User, dataset: Dataset, name: str) -> tuple[int, int | None]:
    request = ModelCreate(name=name, dataset_id=dataset.id, architecture="cnn-small")
    model = service.create_model(session, owner, request)
    return model.dataset_version or 0, model.dataset_version_id


def test_a_version_is_made_only_when_the_dataset_changed(session: Session, owner: User) -> None:
    dataset = datasets.create_dataset(session, owner, "flowers")
    for index in range(3):
        add_image(session, dataset, "daisy", f"{index}.png", index)
        add_image(session, dataset, "rose", f"{index}.png", 100 + index)
    first, first_id = train(session, owner, dataset, "a")
    assert (first, train(session, owner, dataset, "b")) == (1, (1, first_id))
    version = versions.get_version(session, dataset, 1)
    assert (version.note, version.image_count) == ("used to train 'a'", 6)

    image = add_image(session, dataset, "daisy", "new.png", 200)
    assert train(session, owner, dataset, "c")[0] == 2
    image.folder, image.label = "rose", "rose"  # relabelled: a change too
    session.flush()
    assert train(session, owner, dataset, "d")[0] == 3
    # the version a request made is what its job reads: labelled rows by image id
    rows = versions.labelled_rows(session, versions.get_version(session, dataset, 3).id)
    assert [(label, split) for _, _, label, split in rows].count(("rose", None)) == 4


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
    session: Session, owner: User
) -> None:
    from tinymlaas.training.data import load_training_data

    dataset = datasets.create_dataset(session, owner, "flowers")
    for index in range(4):
        add_image(session, dataset, "daisy", f"{index}.png", index)
        add_image(session, dataset, "rose", f"{index}.png", 100 + index)
    request = ModelCreate(name="m", dataset_id=dataset.id, architecture="cnn-small")
    model = service.create_model(session, owner, request)
    datasets.delete_dataset(session, DatabaseBlobStore(session), dataset)
    session.flush()
    session.refresh(model)
    assert (model.dataset_id, model.dataset_version) == (None, 1)

    data = load_training_data(
        session, None, model.classes, model.config, version_id=model.dataset_version_id
    )
    assert len(data.train) + len(data.validation) == 8
    assert data.train.x.shape[1:] == (96, 96, 1)
    assert sorted(set(data.train.y.tolist()) | set(data.validation.y.tolist())) == [0, 1]
