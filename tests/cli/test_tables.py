"""Sizes in the CLI, and every table in an 80-column terminal with long real rows."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from sqlalchemy import select

from tinymlaas.contracts import TrainingConfig
from tinymlaas.db.session import transaction
from tinymlaas.models import Bridge, Device, Job, Observation, TrainedModel, User

from conftest import Database
from support.cli import Cli, cells
from support.factories import compiled_row, labelled_zip

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)

DATASET = "flower_photos_from_the_tensorflow_tutorial"
LABELS = {"sunflowers_in_the_evening_light": 3, "dandelion": 2, "roses": 1}
CLASSES = tuple(LABELS)
MODEL = "flowers-mobilenet-v2-rgb-160px-second-try"
DEVICE = "the camera above the greenhouse door"
PORT = "/dev/cu.usbmodem14201234567"
MESSAGE = "epoch 4/10: loss 0.532, accuracy 81.3%, val_accuracy 79.0%, val_loss 0.611"


def test_dataset_sizes_are_shown_in_kib(logged_in: Cli, tmp_path: Path) -> None:
    data, _ = labelled_zip({"cat": 40, "dog": 40})
    archive = tmp_path / "pets.zip"
    archive.write_bytes(data)
    logged_in.ok("datasets", "import", str(archive), "--name", "pets")
    (dataset,) = json.loads(logged_in.ok("datasets", "list", "--json"))["items"]
    in_kib = f"{dataset['size_bytes'] / 1024:.1f} KiB"

    (row,) = cells(logged_in.ok("datasets", "list"))
    shown = logged_in.ok("datasets", "show", str(dataset["id"]))

    assert 1024 < dataset["size_bytes"] < 1024 * 1024
    assert row[-1] == in_kib
    assert re.search(rf"^Images +80 \({re.escape(in_kib)}\)", shown, re.M), shown


def _admin(database: Database) -> int:
    with database.factory() as session:
        return session.scalars(select(User.id).where(User.username == "admin")).one()


def _model_row(database: Database, owner_id: int, dataset_id: int) -> int:
    """A trained model with a history and per-class metrics, as the training job leaves it."""
    per_class = {
        label: {"precision": 0.875, "recall": 0.9, "f1": 0.887, "support": 120} for label in CLASSES
    }
    metrics: dict[str, Any] = {
        "accuracy": 0.912, "val_accuracy": 0.883, "loss": 0.231, "val_loss": 0.318,
        "evaluated_on": "validation", "evaluated_images": 360, "held_out_accuracy": 0.883,
        "per_class": per_class, "confusion_matrix": [[110, 5, 5], [8, 104, 8], [1, 2, 117]],
    }  # fmt: skip
    config = TrainingConfig(
        architecture="mobilenet-v2", alpha=0.35, input_width=160, input_height=160,
        color_mode="rgb",
    )  # fmt: skip
    history = [
        {"epoch": epoch, "loss": 1 / epoch, "accuracy": 0.5, "val_loss": 1.5, "val_accuracy": 0.4}
        for epoch in (1, 2, 3)
    ]
    with transaction(database.factory) as session:
        model = TrainedModel(
            owner_id=owner_id, name=MODEL, dataset_id=dataset_id, status="succeeded",
            config=config, classes=list(CLASSES), history=history, metrics=metrics,
            parameter_count=413_763,
        )  # fmt: skip
        session.add(model)
        session.flush()
        return model.id


def _device_rows(database: Database, owner_id: int) -> int:
    """A bridge's device with predictions, and a running job with a long message."""
    with transaction(database.factory) as session:
        bridge = Bridge(
            owner_id=owner_id, name="the laboratory bench by the window", token_sha256="1" * 64,
            hostname="raspberrypi-greenhouse.local", version="0.1.0",
        )  # fmt: skip
        session.add(bridge)
        session.flush()
        device = Device(
            owner_id=owner_id, bridge_id=bridge.id, identity="SN-1", name=DEVICE, port=PORT,
            serial_number="8D8E6A3B51514C4B4D2E3120FF0F1A2B", board="stm32f746-disco",
        )  # fmt: skip
        session.add(device)
        session.add(
            Job(owner_id=owner_id, kind="train", status="running", progress=0.4, message=MESSAGE)
        )
        session.flush()
        session.add_all(
            Observation(
                device_id=device.id,
                label=label,
                scores={name: 0.9 if name == label else 0.05 for name in CLASSES},
                latency_ms=1234.5,
                source=f"{label}/image-with-a-long-name-0001.png",
            )
            for label in CLASSES
        )
        return device.id


def _column(output: str, index: int) -> str:
    """The text of one column of the tables, its folded lines joined."""
    return "".join(row[index] for row in cells(output))


def _headers(output: str) -> list[list[str]]:
    """The header rows of the tables in the output."""
    return [
        [cell.strip() for cell in line.split("┃")[1:-1]]
        for line in output.splitlines()
        if line.startswith("┃")
    ]


@pytest.fixture
def seeded(logged_in: Cli, database: Database, tmp_path: Path) -> dict[str, int]:
    """A dataset, a model, its compiled version, a device and its predictions, with long names."""
    data, _ = labelled_zip(LABELS, prefix="train/")
    archive = tmp_path / "flowers.zip"
    archive.write_bytes(data)
    logged_in.ok("datasets", "import", str(archive), "--name", DATASET)
    (dataset,) = json.loads(logged_in.ok("datasets", "list", "--json"))["items"]
    owner_id = _admin(database)
    model_id = _model_row(database, owner_id, dataset["id"])
    compiled_id = compiled_row(
        database, owner_id, CLASSES, board="stm32f746-disco", quantization="float32", fits=False,
        accuracy={"float": 0.9, "int8": 0.89, "tflm": 0.885, "images": 360},
    )  # fmt: skip
    device_id = _device_rows(database, owner_id)
    return {"dataset": dataset["id"], "model": model_id, "compiled": compiled_id,
            "device": device_id}  # fmt: skip


def test_every_table_fits_80_columns_without_cutting_a_word(
    logged_in: Cli, seeded: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    commands = {
        ("datasets", "list"): ["ID", "Name", "Images", "Labels", "Size"],
        ("datasets", "show", str(seeded["dataset"])): ["Folder", "Label", "Split", "Images",
                                                        "Total"],
        ("models", "list"): ["ID", "Name", "Dataset", "Architecture", "Status", "Val. acc."],
        ("models", "show", str(seeded["model"])): ["Epoch", "Loss", "Accuracy", "Val. loss",
                                                   "Val. accuracy"],
        ("compiled", "list"): ["ID", "Model", "Board", "Quant.", "Status", "Fits", "TFLM acc."],
        ("jobs", "list"): ["ID", "Kind", "Status", "Done", "Message", "Created"],
        ("devices", "list"): ["ID", "Name", "Board", "Port", "Status", "Installed"],
        ("devices", "observations", str(seeded["device"])): ["Time", "Label", "Score",
                                                             "Latency", "Source"],
        ("bridges", "list"): ["ID", "Name", "Status", "Hostname", "Last seen"],
        ("architectures",): ["ID", "Alphas", "Input (px)", "int8 flash / arena"],
        ("boards",): ["ID", "Name", "MCU", "Flash", "RAM"],
    }  # fmt: skip
    outputs = {command: logged_in.ok(*command) for command in commands}

    for command, headers in commands.items():
        output = outputs[command]
        too_long = [line for line in output.splitlines() if cell_len(line) > 80]
        assert not too_long, f"{' '.join(command)}:\n{output}"
        assert "…" not in output, f"{' '.join(command)}:\n{output}"
        assert _headers(output)[0] == headers, f"{' '.join(command)}:\n{output}"
    assert _column(outputs["datasets", "list"], 1) == DATASET
    assert MODEL in _column(outputs["models", "list"], 1)
    assert _column(outputs["devices", "list"], 3) == PORT
    assert _column(outputs["compiled", "list"], 2) == "stm32f746-disco"
    shown = outputs["models", "show", str(seeded["model"])]
    assert ["Class", "Precision", "Recall", "F1", "Support"] in _headers(shown)
    assert "sunflowers_in_the_evening_light" in "".join(row[0] for row in cells(shown))
