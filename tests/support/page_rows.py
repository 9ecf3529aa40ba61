"""Rows behind every page of the web UI, for tests that look at all of them.

Datasets and a queued training come through the API (no worker runs them); the finished
model, its compiled version, a bridge, a device with predictions and an install job are
written as the jobs and the bridge would leave them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from tinymlaas.db.base import utcnow
from tinymlaas.db.session import transaction
from tinymlaas.devices import ingest, observation_repository
from tinymlaas.enums import JobKind, JobStatus
from tinymlaas.jobs import service as jobs
from tinymlaas.models import (
    Bridge,
    CompiledModel,
    Device,
    Installation,
    TrainedModel,
    User,
)

from conftest import ADMIN_PASSWORD, Database
from support.factories import compiled_row, pattern_dataset_zip

CLASSES = ("bright-stripes", "dark-squares", "left-gradient")


@dataclass(frozen=True)
class PageRows:
    dataset_id: int
    queued_model_id: int
    queued_job_id: int
    model_id: int
    compiled_id: int
    device_id: int
    install_job_id: int


def api_client(server_url: str) -> httpx.Client:
    client = httpx.Client(base_url=f"{server_url}/api/v1", timeout=30)
    token = client.post(
        "/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
    ).json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def queue_training(client: httpx.Client, dataset_id: int, name: str) -> tuple[int, int]:
    """A training job that stays queued (no worker runs in these tests): (model id, job id)."""
    response = client.post(
        "/models",
        json={"name": name, "dataset_id": dataset_id, "architecture": "cnn-small", "epochs": 2},
    )
    assert response.status_code == 202, response.text
    return response.json()["id"], response.json()["job_id"]


def build_page_rows(server_url: str, database: Database) -> PageRows:
    client = api_client(server_url)
    try:
        response = client.post(
            "/datasets/import",
            files={"file": ("p.zip", pattern_dataset_zip(per_class=4), "application/zip")},
            data={"name": "greenhouse-leaf-photos-grayscale"},
        )
        assert response.status_code == 201, response.text
        dataset_id = response.json()["id"]
        queued_model_id, queued_job_id = queue_training(
            client, dataset_id, "greenhouse-leaf-photos-cnn-small"
        )
    finally:
        client.close()
    with transaction(database.factory) as session:
        admin = session.scalars(select(User).where(User.username == "admin")).one()
        admin_id = admin.id
    compiled_id = compiled_row(database, admin_id, CLASSES)
    with transaction(database.factory) as session:
        compiled = session.get_one(CompiledModel, compiled_id)
        _finish_model(session.get_one(TrainedModel, compiled.model_id), dataset_id)
        compiled.fit_detail = _fit_detail()
        compiled.fits = True
        compiled.accuracy = {"float": 0.97, "int8": 0.96, "tflm": 0.96, "images": 24}
        device_id, install_job_id = device_with_install(session, admin, compiled_id)
        return PageRows(
            dataset_id=dataset_id,
            queued_model_id=queued_model_id,
            queued_job_id=queued_job_id,
            model_id=compiled.model_id,
            compiled_id=compiled_id,
            device_id=device_id,
            install_job_id=install_job_id,
        )


def _finish_model(model: TrainedModel, dataset_id: int) -> None:
    model.name = "greenhouse-leaf-photos-mobilenet-v2"
    model.dataset_id = dataset_id
    model.parameter_count = 123_456
    model.history = [
        {
            "epoch": epoch,
            "loss": 1.0 / epoch,
            "accuracy": 0.5 + epoch / 10,
            "val_loss": 1.1 / epoch,
            "val_accuracy": 0.45 + epoch / 10,
        }
        for epoch in range(1, 5)
    ]
    confusion = [[8, 0, 0], [0, 7, 1], [0, 0, 8]]
    model.metrics = {
        "accuracy": 0.9,
        "loss": 0.25,
        "val_accuracy": 0.958,
        "val_loss": 0.3,
        "held_out_accuracy": 0.958,
        "evaluated_on": "validation",
        "evaluated_images": 24,
        "per_class": {
            label: {"precision": 0.95, "recall": 0.95, "f1": 0.95, "support": 8}
            for label in CLASSES
        },
        "confusion_matrix": confusion,
    }


def _fit_detail() -> dict[str, object]:
    return {
        "fits": True,
        "summary": "fits with room to spare",
        "basis": "tensor arena measured in TFLite-Micro; runtime from the board's reference",
        "ram": {
            "fits": True,
            "estimate_bytes": 93_800,
            "limit_bytes": 256 * 1024,
            "arena_measured_bytes": 60_000,
            "arena_with_margin_bytes": 66_000,
            "input_buffer_bytes": 9216,
            "runtime_bytes": 18_000,
        },
        "flash": {
            "fits": True,
            "estimate_bytes": 420_000,
            "limit_bytes": 1024 * 1024,
            "model_bytes": 20_000,
            "runtime_bytes": 400_000,
        },
    }


def device_with_install(session: Session, admin: User, compiled_id: int) -> tuple[int, int]:
    now = utcnow()
    bridge = Bridge(
        owner_id=admin.id,
        name="lab-laptop-on-the-third-floor",
        token_sha256=secrets.token_hex(32),
        connected=True,
        last_seen=now,
        hostname="lab-laptop.example.org",
        version="1.0.0",
    )
    session.add(bridge)
    session.flush()
    device = Device(
        owner_id=admin.id,
        bridge_id=bridge.id,
        identity=secrets.token_hex(8),
        name="virtual-nano-33-ble-sense-1",
        board="virtual",
        port="virtual://camera-folder/greenhouse-leaves-0",
        serial_number="VIRTUAL-0000-1111-2222",
        virtual=True,
        present=True,
        last_seen=now,
        installed_compiled_id=compiled_id,
        installed_at=now,
    )
    session.add(device)
    session.flush()
    rows = []
    for index in range(6):
        label = CLASSES[index % 3]
        rows.append(
            {
                "device_id": device.id,
                "compiled_id": compiled_id,
                "ts": now - timedelta(seconds=10 - index),
                "seq": index,
                "label": label,
                "scores": {name: (0.9 if name == label else 0.05) for name in CLASSES},
                "latency_ms": 41.5,
                "source": f"/home/lab/greenhouse-leaves/{label}/{index:04d}-a-long-file-name.png",
            }
        )
    # stored as the bridge's predictions are: the rows and their hourly aggregates
    observation_repository.insert_observations(session, rows)
    observation_repository.add_to_hours(session, ingest.hourly_totals(rows))
    job = jobs.create_job(session, admin, JobKind.install)
    session.add(
        Installation(owner_id=admin.id, device_id=device.id, compiled_id=compiled_id, job_id=job.id)
    )
    session.flush()
    jobs.finish(session, job, JobStatus.succeeded, message="installed")
    return device.id, job.id
