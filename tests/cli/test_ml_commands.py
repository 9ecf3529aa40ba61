"""tinymlaas train / compile / models / compiled / jobs … against a live server and worker."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tinymlaas.cli import formatting, ml_client
from tinymlaas.cli.client import current_session
from tinymlaas.jobs import repository, service
from tinymlaas.models import Job, User

from conftest import Database
from support.cli import Cli, cells
from support.factories import pattern_dataset_zip
from support.waiting import wait_for

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)

LABELS = {"bright", "dark", "left"}
COMPILED_FILES = {
    "model.tflite",
    "model_data.h",
    "model_data.cc",
    "arduino_library.zip",
    "manifest.json",
}


def detail(output: str, key: str) -> str:
    """The value of a `key  value` row of a details grid."""
    (line,) = [line for line in output.splitlines() if line.startswith(key + "  ")]
    return line[len(key) :].strip()


def import_patterns(runner: Cli, tmp_path: Path) -> int:
    archive = tmp_path / "patterns.zip"
    archive.write_bytes(pattern_dataset_zip(per_class=12))
    runner.ok("datasets", "import", str(archive), "--name", "patterns")
    (dataset,) = json.loads(runner.ok("datasets", "list", "--json"))["items"]
    return int(dataset["id"])


def train_args(dataset_id: int, *extra: str) -> list[str]:
    return [
        "train",
        "--dataset", str(dataset_id),
        "--architecture", "cnn-small",
        "--alpha", "0.5",
        "--width", "16",
        "--height", "16",
        "--batch-size", "8",
        "--learning-rate", "0.01",
        "--seed", "7",
        *extra,
    ]  # fmt: skip


def started(output: str) -> tuple[int, int]:
    """The model id and job id of `Training model 'N' (id M), job J`."""
    found = re.search(r"Training model '[^']*' \(id (\d+)\), job (\d+)", output)
    assert found, output
    return int(found[1]), int(found[2])


@pytest.mark.slow
def test_train_watch_compile_and_download(
    logged_in: Cli, local_worker: None, tmp_path: Path
) -> None:
    dataset_id = import_patterns(logged_in, tmp_path)

    trained = logged_in.ok(
        *train_args(dataset_id, "--epochs", "4", "--name", "tiny", "--board", "nano33ble"),
    )

    model_id, job_id = started(trained)
    assert re.search(r"Estimate for nano33ble before training .*: fits$", trained, re.M), trained
    assert [int(n) for n in re.findall(rf"^Job {job_id}: epoch (\d+): loss", trained, re.M)] == [
        1,
        2,
        3,
        4,
    ]
    assert f"Job {job_id}: [100%] succeeded\n" in trained
    assert f"Job {job_id} succeeded\n" in trained
    per_class = {row[0]: row[1:] for row in cells(trained) if len(row) == 5}
    matrix = {row[0]: [int(n) for n in row[1:]] for row in cells(trained) if len(row) == 4}
    assert set(per_class) == LABELS
    assert set(matrix) == LABELS
    support = sum(int(row[3]) for row in per_class.values())
    assert support == sum(map(sum, matrix.values())) > 0
    model = json.loads(logged_in.ok("models", "list", "--json"))[0]
    assert model["id"] == model_id
    assert f"val_accuracy {model['metrics']['val_accuracy'] * 100:.1f}%" in trained

    shown = logged_in.ok("models", "show", str(model_id))
    assert detail(shown, "Classes") == "bright, dark, left"
    assert [row[0] for row in cells(shown) if row[0].isdigit()] == ["1", "2", "3", "4"]
    listed = cells(logged_in.ok("models", "list", "--dataset", str(dataset_id)))
    assert [(row[0], row[1], row[4]) for row in listed] == [(str(model_id), "tiny", "succeeded")]
    other_dataset = str(dataset_id + 1)
    assert json.loads(logged_in.ok("models", "list", "--dataset", other_dataset, "--json")) == []

    # watching a finished job replays it and ends with its final state
    watched = logged_in.ok("jobs", "watch", str(job_id))
    assert f"Job {job_id}: epoch 4: loss" in watched
    assert watched.endswith(f"Job {job_id} succeeded\n")

    compiled_output = logged_in.ok("compile", str(model_id), "--board", "nano33ble")

    (compiled,) = json.loads(logged_in.ok("compiled", "list", "--json"))
    assert f"compiled id {compiled['id']}, job {compiled['job_id']}" in compiled_output
    assert detail(compiled_output, "Verdict") == "fits"
    accuracy = compiled["accuracy"]
    assert detail(compiled_output, "Accuracy") == (
        f"float {accuracy['float'] * 100:.1f}% · int8 {accuracy['int8'] * 100:.1f}% · "
        f"TFLM {accuracy['tflm'] * 100:.1f}% ({accuracy['images']} held-out images)"
    )
    assert detail(compiled_output, "RAM").startswith(
        f"{formatting.size(compiled['ram_estimate_bytes'])} of 256.0 KiB"
    )
    assert detail(compiled_output, "TFLite model").endswith(f"({compiled['tflite_bytes']:,} B)")
    assert {name.split(" (")[0] for name in detail(compiled_output, "Files").split(", ")} == (
        COMPILED_FILES
    )

    assert detail(logged_in.ok("compiled", "show", str(compiled["id"])), "Verdict") == "fits"
    for_model = logged_in.ok("compiled", "list", "--model", str(model_id), "--json")
    assert [item["id"] for item in json.loads(for_model)] == [compiled["id"]]

    everything, one = tmp_path / "all", tmp_path / "one"
    logged_in.ok("compiled", "download", str(compiled["id"]), "-o", str(everything))
    logged_in.ok(
        "compiled", "download", str(compiled["id"]), "-o", str(one), "--file", "model.tflite"
    )

    assert {path.name for path in everything.iterdir()} == COMPILED_FILES
    manifest = json.loads((everything / "manifest.json").read_bytes())
    tflite_model = (everything / "model.tflite").read_bytes()
    assert len(tflite_model) == compiled["tflite_bytes"]
    assert hashlib.sha256(tflite_model).hexdigest() == manifest["files"]["model.tflite"]["sha256"]
    assert [path.name for path in one.iterdir()] == ["model.tflite"]
    assert (one / "model.tflite").read_bytes() == tflite_model
    missing = logged_in(
        "compiled", "download", str(compiled["id"]), "-o", str(one), "--file", "nope.bin"
    )
    assert missing.exit_code == 1
    assert "has no file 'nope.bin'; it has arduino_library.zip, manifest.json" in missing.stderr

    logged_in.ok("compiled", "delete", str(compiled["id"]), "--yes")
    logged_in.ok("models", "delete", str(model_id), "--yes")
    assert json.loads(logged_in.ok("compiled", "list", "--json")) == []
    assert json.loads(logged_in.ok("models", "list", "--json")) == []


@pytest.mark.slow
def test_compile_with_the_c_engine_shows_its_plan_and_accuracy(
    logged_in: Cli, local_worker: None, tmp_path: Path
) -> None:
    dataset_id = import_patterns(logged_in, tmp_path)
    model_id, _ = started(logged_in.ok(*train_args(dataset_id, "--epochs", "2", "--name", "c")))

    output = logged_in.ok("compile", str(model_id), "--board", "nano33ble", "--engine", "c")

    (compiled,) = json.loads(logged_in.ok("compiled", "list", "--json"))
    assert compiled["engine"] == "c"
    assert f"for nano33ble (int8, c): compiled id {compiled['id']}" in output
    assert detail(output, "Compiled").endswith("int8, engine c")
    activation = compiled["activation"]
    saved = activation["in_place_saved_bytes"]  # cnn-small: the first convolution in place
    assert saved > 0
    assert detail(output, "Activations") == (
        f"{formatting.size(activation['peak_bytes'])} planned by the C engine"
        f" (per-operator floor {formatting.size(activation['floor_bytes'])};"
        f" {formatting.size(saved)} saved by in-place operators)"
    )
    accuracy = compiled["accuracy"]
    assert accuracy["c"] == accuracy["tflm"]
    assert f"TFLM {accuracy['tflm'] * 100:.1f}% · C {accuracy['c'] * 100:.1f}% (" in detail(
        output, "Accuracy"
    )
    measured = compiled["measured"]  # on the Nano 33 BLE's core, emulated
    assert detail(output, "Measured on cortex-m4f").endswith(
        f"{measured['instructions']:,} instructions per inference"
        f" · ~{measured['latency_ms_estimate']:.1f} ms (estimate)"
    )
    assert "model program RAM with stack (measured on cortex-m4f)" in detail(output, "RAM")
    assert "c_library.zip" in detail(output, "Files")
    shown = logged_in.ok("compiled", "show", str(compiled["id"]))
    assert detail(shown, "Activations") == detail(output, "Activations")


@pytest.mark.slow
def test_cancelling_a_long_training_ends_its_watch_with_exit_1(
    logged_in: Cli, local_worker: None, tmp_path: Path
) -> None:
    dataset_id = import_patterns(logged_in, tmp_path)
    _, job_id = started(logged_in.ok(*train_args(dataset_id, "--epochs", "500", "--no-watch")))
    with ml_client.MlClient(*current_session()) as api:
        wait_for(lambda: api.get_job(job_id)["status"] != "queued", 60, "the training starting")

    cancelled = logged_in.ok("jobs", "cancel", str(job_id))
    watched = logged_in("jobs", "watch", str(job_id))

    assert f"Asked job {job_id} to stop" in cancelled
    assert watched.exit_code == 1, watched.output
    assert f"Job {job_id}: cancelling" in watched.output
    assert f"Job {job_id} was cancelled" in watched.stderr
    listed = json.loads(logged_in.ok("jobs", "list", "--status", "cancelled", "--json"))
    assert [job["id"] for job in listed] == [job_id]
    model = json.loads(logged_in.ok("models", "list", "--json"))[0]
    assert model["status"] == "cancelled"
    assert len(model["history"]) < 500


def test_an_unknown_architecture_is_refused_with_the_known_ones(
    logged_in: Cli, tmp_path: Path
) -> None:
    dataset_id = import_patterns(logged_in, tmp_path)

    result = logged_in("train", "--dataset", str(dataset_id), "--architecture", "resnet")

    assert result.exit_code == 1
    assert (
        "Error: architecture 'resnet' is unknown; known: cnn-small, mobilenet-v1, mobilenet-v2"
        in result.stderr
    )
    assert json.loads(logged_in.ok("jobs", "list", "--json")) == []


def test_architectures_and_boards_are_listed(logged_in: Cli) -> None:
    architectures = {row[0]: row for row in cells(logged_in.ok("architectures"))}
    boards = {row[0]: row for row in cells(logged_in.ok("boards"))}

    assert {"cnn-small", "mobilenet-v1", "mobilenet-v2"} <= set(architectures)
    assert architectures["mobilenet-v1"][1] == "0.1, 0.2, 0.25, 0.5"
    assert re.fullmatch(r"α 0\.05: [\d.]+ KiB / [\d.]+ KiB", architectures["mobilenet-v2"][3])
    assert {"nano33ble", "virtual"} <= set(boards)
    assert boards["nano33ble"][2:] == ["nRF52840 (Cortex-M4F) at 64 MHz", "1.0 MiB", "256.0 KiB"]


def _synthetic_job(database: Database, status: str, error: str | None = None) -> int:
    """A finished training job with two epochs of events, written as a worker would."""
    with database.factory.begin() as session:
        admin = session.scalars(select(User).where(User.username == "admin")).one()
        job = service.create_job(session, admin, "train")
        job.status = "running"
        repository.add_event(session, job.id, "state", {"status": "running", "worker": "w:1"})
        for epoch in (1, 2):
            metrics = {"epoch": epoch, "loss": 1 / epoch, "accuracy": 0.5, "val_accuracy": 0.5}
            repository.add_event(session, job.id, "metric", metrics)
            progress = {"progress": epoch / 2, "message": f"epoch {epoch}/2", "epoch": epoch}
            repository.add_event(session, job.id, "progress", progress)
        service.finish(session, job, status, error=error)
        return job.id


class _CutStream(httpx.SyncByteStream):
    """Passes on two whole events and part of the third, then fails like a dropped link."""

    def __init__(self, original: httpx.SyncByteStream) -> None:
        self._original = original

    def __iter__(self) -> Iterator[bytes]:
        received = b""
        for chunk in self._original:
            received += chunk
            ends = [found.end() for found in re.finditer(rb"\r?\n\r?\n", received)]
            if len(ends) >= 3:
                yield received[: ends[1] + 10]
                raise httpx.ReadError("connection reset (cut by the test)")
        yield received

    def close(self) -> None:
        self._original.close()


class _DroppingTransport(httpx.HTTPTransport):
    """Cuts the first event stream it carries; remembers every event stream request."""

    def __init__(self) -> None:
        super().__init__()
        self.event_requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if not request.url.path.endswith("/events"):
            return response
        self.event_requests.append(request)
        if len(self.event_requests) > 1:
            return response
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_CutStream(response.stream),
            request=request,
        )


def test_watch_resumes_after_a_dropped_connection_without_repeating_events(
    logged_in: Cli, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = _synthetic_job(database, "succeeded")
    transport = _DroppingTransport()
    monkeypatch.setattr(
        ml_client, "MlClient", functools.partial(ml_client.MlClient, transport=transport)
    )

    watched = logged_in.ok("jobs", "watch", str(job_id))

    first, resumed = transport.event_requests
    assert "last-event-id" not in first.headers
    with database.factory() as session:
        event_ids = [event.id for event in repository.events_after(session, job_id, 0)]
    assert resumed.headers["last-event-id"] == str(event_ids[1])  # the last whole event
    assert watched.count(f"Job {job_id}: running on w:1") == 1
    assert watched.count(f"Job {job_id}: epoch 1: loss 1.000") == 1
    assert watched.count(f"Job {job_id}: epoch 2: loss 0.500") == 1
    assert watched.endswith(f"Job {job_id} succeeded\n")


def test_watching_a_failed_job_prints_its_error_and_exits_1(
    logged_in: Cli, database: Database
) -> None:
    job_id = _synthetic_job(database, "failed", error="ValueError: no images to train on")

    result = logged_in("jobs", "watch", str(job_id))
    shown = logged_in.ok("jobs", "show", str(job_id))

    assert result.exit_code == 1
    assert f"Job {job_id} failed: ValueError: no images to train on" in result.stderr
    assert detail(shown, "Status") == "failed"
    assert detail(shown, "Error") == "ValueError: no images to train on"


def test_ctrl_c_stops_watching_but_not_the_job(
    logged_in: Cli, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with database.factory.begin() as session:
        admin = session.scalars(select(User).where(User.username == "admin")).one()
        job_id = service.create_job(session, admin, "train").id

    def interrupted(self: object, job_id: int, last_event_id: str | None) -> Iterator[object]:
        raise KeyboardInterrupt
        yield  # a generator, like the real one

    monkeypatch.setattr(ml_client.MlClient, "job_events", interrupted)

    result = logged_in("jobs", "watch", str(job_id))

    assert result.exit_code == 130
    assert f"Job {job_id} continues on the server" in result.stderr
    assert f"tinymlaas jobs cancel {job_id}" in result.stderr
    with database.factory() as session:
        assert session.get_one(Job, job_id).status == "queued"


@pytest.mark.slow
def test_continuing_a_model_needs_no_architecture_or_input(
    logged_in: Cli, local_worker: None, tmp_path: Path
) -> None:
    dataset_id = import_patterns(logged_in, tmp_path)
    base_id, _ = started(
        logged_in.ok(*train_args(dataset_id, "--epochs", "1", "--color", "rgb", "--keep-last"))
    )

    continued = logged_in.ok(
        "train", "--dataset", str(dataset_id), "--base-model", str(base_id), "--epochs", "2",
        "--board", "nano33ble",
    )  # fmt: skip

    model_id, job_id = started(continued)
    assert f"Job {job_id} succeeded\n" in continued
    assert re.search(r"Estimate for nano33ble before training .*: fits$", continued, re.M)
    models = {m["id"]: m for m in json.loads(logged_in.ok("models", "list", "--json"))}
    model, base = models[model_id], models[base_id]
    config = model["config"]
    assert model["base_model_id"] == base_id
    assert (config["architecture"], config["alpha"], config["color_mode"]) == (
        "cnn-small",
        0.5,
        "rgb",
    )
    assert (config["input_width"], config["input_height"], config["epochs"]) == (16, 16, 2)
    assert config["restore_best_weights"] is True
    assert base["config"]["restore_best_weights"] is False
    refused = logged_in(
        "train", "--dataset", str(dataset_id), "--base-model", str(base_id), "--alpha", "1",
        "--no-watch",
    )  # fmt: skip
    assert refused.exit_code == 1
    assert f"alpha 1.0 differs from base model {base_id}'s 0.5" in refused.stderr


def test_a_new_model_needs_an_architecture(logged_in: Cli, tmp_path: Path) -> None:
    dataset_id = import_patterns(logged_in, tmp_path)
    result = logged_in("train", "--dataset", str(dataset_id), "--no-watch")
    assert result.exit_code == 2
    assert "--architecture is required (or --base-model ID)" in result.stderr
    assert json.loads(logged_in.ok("models", "list", "--json")) == []
