"""Training, compiling and job commands (train, compile, models, compiled, jobs …) over the API."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tinymlaas.cli.client import (
    PAGE_SIZE,
    ApiClient,
    ApiError,
    ClientError,
    NotLoggedIn,
    SavedFile,
    TransferProgress,
    current_session,
)
from tinymlaas.cli.client_commands import _reporting_errors, _when, console, error_console
from tinymlaas.cli.progress import ByteProgress
from tinymlaas.cli.sse import ServerSentEvent, parse_events

Json = dict[str, Any]
FINISHED_STATUSES = ("succeeded", "failed", "cancelled")
RECONNECT_ATTEMPTS = 5
INTERRUPTED_EXIT_CODE = 130
KiB = 1024
MiB = 1024 * KiB

models_app = typer.Typer(help="Trained models.", no_args_is_help=True)
compiled_app = typer.Typer(
    help="Models compiled for a board, and their files.", no_args_is_help=True
)
jobs_app = typer.Typer(help="Training and compiling jobs.", no_args_is_help=True)

ModelId = Annotated[int, typer.Argument(help="The model's id (see tinymlaas models list).")]
CompiledId = Annotated[
    int, typer.Argument(help="The compiled model's id (see tinymlaas compiled list).")
]
JobId = Annotated[int, typer.Argument(help="The job's id (see tinymlaas jobs list).")]
Watch = Annotated[bool, typer.Option("--watch/--no-watch", help="Follow the job until it ends.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead.")]


class ColorMode(StrEnum):
    grayscale = "grayscale"
    rgb = "rgb"


class Quantization(StrEnum):
    int8 = "int8"
    float32 = "float32"


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


def register(app: typer.Typer) -> None:
    app.command()(architectures)
    app.command()(boards)
    app.command()(train)
    app.command("compile")(compile_model)
    app.add_typer(models_app, name="models")
    app.add_typer(compiled_app, name="compiled")
    app.add_typer(jobs_app, name="jobs")


class MlClient(ApiClient):
    """The API operations of training, compiling and jobs."""

    def list_architectures(self) -> list[Json]:
        architectures: list[Json] = self._request("GET", "/architectures").json()
        return architectures

    def estimate(self, architecture: str, params: dict[str, str | int | float]) -> Json:
        path = f"/architectures/{quote(architecture, safe='')}/estimate"
        estimate: Json = self._request("GET", path, params=params).json()
        return estimate

    def list_boards(self) -> list[Json]:
        found: list[Json] = self._request("GET", "/boards").json()
        return found

    def train(self, body: Json) -> Json:
        accepted: Json = self._request("POST", "/models", json_body=body).json()
        return accepted

    def list_models(self, dataset_id: int | None) -> list[Json]:
        return self._all_pages("/models", {"dataset_id": dataset_id} if dataset_id else {})

    def get_model(self, model_id: int) -> Json:
        model: Json = self._request("GET", f"/models/{model_id}").json()
        return model

    def delete_model(self, model_id: int) -> None:
        self._request("DELETE", f"/models/{model_id}")

    def compile(self, model_id: int, board: str, quantization: str) -> Json:
        body = {"board": board, "quantization": quantization}
        accepted: Json = self._request("POST", f"/models/{model_id}/compile", json_body=body).json()
        return accepted

    def list_compiled(self, model_id: int | None) -> list[Json]:
        return self._all_pages("/compiled", {"model_id": model_id} if model_id else {})

    def get_compiled(self, compiled_id: int) -> Json:
        compiled: Json = self._request("GET", f"/compiled/{compiled_id}").json()
        return compiled

    def delete_compiled(self, compiled_id: int) -> None:
        self._request("DELETE", f"/compiled/{compiled_id}")

    def compiled_files(self, compiled_id: int) -> list[Json]:
        files: list[Json] = self._request("GET", f"/compiled/{compiled_id}/files").json()["items"]
        return files

    def download_file(
        self, compiled_id: int, file: Json, directory: Path, progress: TransferProgress
    ) -> SavedFile:
        """Stream one file into `directory` through `<name>.part`, kept only if its sha256 is
        the one the server listed; an existing file of that name is replaced."""
        name = str(file["name"])
        if name in ("", ".", "..") or PurePosixPath(name).name != name or "\\" in name:
            raise ClientError(f"the server listed a file with an unsafe name: {name!r}")
        destination = directory / name
        partial = destination.with_name(name + ".part")
        digest, size = hashlib.sha256(), 0
        with self._stream(f"/compiled/{compiled_id}/files/{quote(name, safe='')}") as response:
            length = response.headers.get("Content-Length", "")
            progress.start(int(length) if length.isdigit() else None)
            try:
                with partial.open("wb") as output:
                    for chunk in response.iter_bytes():
                        output.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        progress.advance(len(chunk))
                if digest.hexdigest() != file["sha256"]:
                    raise ClientError(f"{name} arrived damaged (its sha256 differs): not saved")
                partial.replace(destination)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
        return SavedFile(destination, size)

    def list_jobs(self, status: str | None) -> list[Json]:
        return self._all_pages("/jobs", {"status": status} if status else {})

    def get_job(self, job_id: int) -> Json:
        job: Json = self._request("GET", f"/jobs/{job_id}").json()
        return job

    def cancel_job(self, job_id: int) -> Json:
        job: Json = self._request("POST", f"/jobs/{job_id}/cancel").json()
        return job

    def job_events(self, job_id: int, last_event_id: str | None) -> Iterator[ServerSentEvent]:
        """The job's Server-Sent Events after `last_event_id` (all of them without it)."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else None
        with self._stream(f"/jobs/{job_id}/events", headers=headers) as response:
            yield from parse_events(response.iter_lines())

    def _all_pages(self, path: str, params: dict[str, str | int]) -> list[Json]:
        items: list[Json] = []
        while True:
            query = params | {"offset": len(items), "limit": PAGE_SIZE}
            page: Json = self._request("GET", path, params=query).json()
            items.extend(page["items"])
            if not page["items"] or len(items) >= page["total"]:
                return items


@contextmanager
def _api() -> Iterator[MlClient]:
    """A client of the logged-in server; any client error ends the command."""
    with _reporting_errors():
        server, token = current_session()
        api = MlClient(server, token)
        with api:
            yield api


# ---- formatting -------------------------------------------------------------------------


def _size(count: int | None) -> str:
    """Bytes in binary units, as boards are specified: 262144 → "256 KiB"."""
    if count is None:
        return "-"
    for unit, factor in (("MiB", MiB), ("KiB", KiB)):
        if count >= factor:
            return f"{count / factor:.1f}".removesuffix(".0") + f" {unit}"
    return f"{count} B"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _details(rows: list[tuple[str, str]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    for key, value in rows:
        grid.add_row(key, value)
    return grid


# ---- architectures and boards -------------------------------------------------------------


def architectures() -> None:
    """List the architectures you can train, with their int8 footprints at 96×96×1."""
    with _api() as api:
        found = api.list_architectures()
    table = Table(
        "ID", "Name", "Alphas", "Input (px)", "int8 flash / arena at 96×96×1", title="Architectures"
    )
    for arch in found:
        alphas = ", ".join(
            f"[bold]{alpha:g}[/bold]" if alpha == arch["default_alpha"] else f"{alpha:g}"
            for alpha in arch["alphas"]
        )
        footprints = "\n".join(
            f"α {alpha}: {_size(fp['tflite_bytes'])} / {_size(fp['arena_bytes'])}"
            for alpha, fp in arch["footprints"].items()
        )
        table.add_row(
            arch["id"],
            escape(arch["name"]),
            alphas,
            f"{arch['min_input']}–{arch['max_input']} (default {arch['default_input']})",
            footprints or "-",
        )
    console.print(table)


def boards() -> None:
    """List the boards a model can be compiled for, with their memories."""
    with _api() as api:
        found = api.list_boards()
    table = Table("ID", "Name", "MCU", "Clock", "Flash", "RAM", title="Boards")
    for board in found:
        table.add_row(
            board["id"],
            escape(board["name"]),
            escape(board["mcu"]),
            f"{board['clock_mhz']} MHz" if board["clock_mhz"] else "-",
            _size(board["flash_bytes"]),
            _size(board["ram_bytes"]),
        )
    console.print(table)


# ---- following a job ----------------------------------------------------------------------


def _job_events(api: MlClient, job_id: int) -> Iterator[tuple[str, Json]]:
    """The job's events as (type, data) until its final state, across dropped connections.

    After a drop the stream resumes with `Last-Event-ID`, so no event is shown twice or
    missed. A stream that ends without a final state (the server restarted) is reopened
    unless the job itself says it has finished.
    """
    last_id: str | None = None
    failures = 0
    while True:
        try:
            for event in api.job_events(job_id, last_id):
                last_id, failures = event.id or last_id, 0
                data = json.loads(event.data) if event.data else {}
                yield event.event, data
                if event.event == "state" and data.get("status") in FINISHED_STATUSES:
                    return
        except (ApiError, NotLoggedIn):
            raise
        except ClientError:
            failures += 1
            if failures > RECONNECT_ATTEMPTS:
                raise
            time.sleep(min(0.25 * 2**failures, 5.0))
            continue
        job = api.get_job(job_id)
        if job["status"] in FINISHED_STATUSES:
            yield "state", {key: job[key] for key in ("status", "progress", "message", "error")}
            return
        time.sleep(0.5)


def _epoch_metrics(entry: Json) -> str:
    """E.g. "loss 0.412 · accuracy 88.0% · val_accuracy 91.7%"."""
    parts = [f"loss {_number(entry.get('loss'))}"]
    parts += [
        f"{key} {_percent(entry[key])}"
        for key in ("accuracy", "val_accuracy")
        if entry.get(key) is not None
    ]
    return " · ".join(parts)


class JobDisplay:
    """A live bar of the job's progress and message on a terminal; log lines otherwise.

    Either way, state changes and each epoch's metrics are printed as lines, so they stay
    in the scrollback (and in a CI log) after the bar is gone.
    """

    def __init__(self, job: Json) -> None:
        self.job_id = job["id"]
        self.kind = job["kind"]
        self.status = job["status"]
        self.live = error_console.is_terminal
        self._last_logged = ""
        self._progress = Progress(
            TextColumn("[bold]{task.fields[status]}[/bold]"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            TextColumn("[cyan]{task.fields[metrics]}[/cyan]"),
            console=error_console,
            disable=not self.live,
        )
        self._task = self._progress.add_task(
            escape(job["message"]),
            total=1.0,
            completed=job["progress"],
            status=self.status,
            metrics="",
        )

    def __enter__(self) -> JobDisplay:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def show(self, kind: str, data: Json) -> None:
        if kind == "state":
            self._state(data)
        elif kind == "progress":
            self._moved(data)
        elif kind == "metric":
            self._log(f"epoch {data.get('epoch')}: {_epoch_metrics(data)}")
            self._progress.update(self._task, metrics=_epoch_metrics(data))

    def _state(self, data: Json) -> None:
        self.status = str(data.get("status", self.status))
        if self.status in FINISHED_STATUSES:
            line = f"{self.status}: {data['error']}" if data.get("error") else self.status
        elif data.get("cancelling"):
            line = "cancelling: stops at the next batch"
        elif self.status == "running" and data.get("worker"):
            line = f"running on {data['worker']}"
        elif data.get("message") and data["message"] != self.status:
            line = f"{self.status}: {data['message']}"
        else:
            line = self.status
        changes: Json = {"status": self.status}
        if "progress" in data:
            changes["completed"] = float(data["progress"])
        if data.get("message"):
            changes["description"] = escape(str(data["message"]))
        self._progress.update(self._task, **changes)
        percent = f"{float(data['progress']) * 100:3.0f}%" if "progress" in data else None
        self._log(f"[{percent}] {line}" if percent else line)

    def _moved(self, data: Json) -> None:
        message = str(data.get("message", ""))
        fraction = float(data.get("progress", 0.0))
        self._progress.update(self._task, completed=fraction, description=escape(message))
        # The end of an epoch comes with its metrics, which were logged already.
        if "epoch" not in data and message != self._last_logged:
            self._last_logged = message
            self._log(f"[{fraction * 100:3.0f}%] {message}")

    def _log(self, line: str) -> None:
        self._progress.console.print(escape(f"Job {self.job_id}: {line}"))


def _watch(api: MlClient, job_id: int) -> Json:
    """Follow a job to its end and return it; Ctrl-C stops watching, not the job."""
    job = api.get_job(job_id)
    try:
        with JobDisplay(job) as display:
            for kind, data in _job_events(api, job_id):
                display.show(kind, data)
    except KeyboardInterrupt:
        error_console.print(
            f"Stopped watching. Job {job_id} continues on the server: "
            f"tinymlaas jobs watch {job_id} to follow it again, "
            f"tinymlaas jobs cancel {job_id} to stop it."
        )
        raise typer.Exit(INTERRUPTED_EXIT_CODE) from None
    return api.get_job(job_id)


def _end_unless_succeeded(job: Json) -> None:
    """Print how a job ended; exit 1 unless it succeeded."""
    if job["status"] == "succeeded":
        console.print(f"[green]Job {job['id']} succeeded[/green]")
        return
    if job["status"] == "failed":
        error_console.print(f"[red]Job {job['id']} failed: {escape(job['error'] or '')}[/red]")
    elif job["status"] == "cancelled":
        error_console.print(f"[red]Job {job['id']} was cancelled[/red]")
    else:
        error_console.print(f"[red]Job {job['id']} is {job['status']}[/red]")
    raise typer.Exit(1)


@jobs_app.command("watch")
def watch_job(job_id: JobId) -> None:
    """Follow a job live until it ends; exit 1 if it failed or was cancelled."""
    with _api() as api:
        job = _watch(api, job_id)
    _end_unless_succeeded(job)


@jobs_app.command("list")
def list_jobs(
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this state.")] = None,
    as_json: AsJson = False,
) -> None:
    """List your jobs, newest first."""
    with _api() as api:
        found = api.list_jobs(status.value if status else None)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    if not found:
        console.print("No jobs." if status is None else f"No {status.value} jobs.")
        return
    table = Table("ID", "Kind", "Status", "Progress", "Message", "Created", "Finished")
    for job in found:
        table.add_row(
            str(job["id"]),
            job["kind"],
            job["status"],
            _percent(job["progress"]),
            escape(job["message"]),
            _when(job["created_at"]),
            _when(job["finished_at"]) if job["finished_at"] else "-",
        )
    console.print(table)


@jobs_app.command("show")
def show_job(job_id: JobId) -> None:
    """Show a job's state, progress and timing."""
    with _api() as api:
        job = api.get_job(job_id)
    rows = [
        ("Job", f"[bold]{job['id']}[/bold] ({job['kind']}, by {escape(job['owner'])})"),
        ("Status", job["status"]),
        ("Progress", f"{_percent(job['progress'])}: {escape(job['message'])}"),
        ("Created", _when(job["created_at"])),
        ("Started", _when(job["started_at"]) if job["started_at"] else "-"),
        ("Finished", _when(job["finished_at"]) if job["finished_at"] else "-"),
        ("Worker", escape(job["worker"] or "-")),
        ("Attempts", str(job["attempts"])),
    ]
    if job["error"]:
        rows.append(("Error", f"[red]{escape(job['error'])}[/red]"))
    console.print(_details(rows))


@jobs_app.command("cancel")
def cancel_job(job_id: JobId) -> None:
    """Cancel a queued job, or stop a running one at its next batch."""
    with _api() as api:
        job = api.cancel_job(job_id)
    if job["status"] == "cancelled":
        console.print(f"Cancelled job {job_id}")
    else:
        console.print(
            f"Asked job {job_id} to stop; it stops at its next batch "
            f"(follow it with tinymlaas jobs watch {job_id})"
        )


# ---- training and models ------------------------------------------------------------------


def _metrics_view(model: Json) -> list[Any]:
    """The final metrics: accuracies, a per-class table and the confusion matrix."""
    metrics = model.get("metrics")
    if not metrics:
        return ["No metrics."]
    evaluated = metrics.get("evaluated_on")
    summary = (
        f"Accuracy {_percent(metrics.get('accuracy'))} (training) · "
        f"val_accuracy {_percent(metrics.get('val_accuracy'))} · "
        f"loss {_number(metrics.get('loss'))} · val_loss {_number(metrics.get('val_loss'))}"
    )
    views: list[Any] = [summary]
    per_class: Json = metrics.get("per_class") or {}
    if not per_class:
        return views
    if evaluated:
        views.append(
            f"On the {evaluated} split ({metrics.get('evaluated_images')} images): "
            f"accuracy {_percent(metrics.get('held_out_accuracy'))}"
        )
    table = Table("Class", "Precision", "Recall", "F1", "Support", title="Per class")
    for label, scores in per_class.items():
        table.add_row(
            escape(label),
            _number(scores["precision"]),
            _number(scores["recall"]),
            _number(scores["f1"]),
            str(scores["support"]),
        )
    views.append(table)
    labels = list(per_class)
    matrix = Table(
        "true \\ predicted",
        *(escape(label) for label in labels),
        title="Confusion matrix",
    )
    for label, row in zip(labels, metrics.get("confusion_matrix") or [], strict=False):
        matrix.add_row(escape(label), *(str(count) for count in row))
    views.append(matrix)
    return views


def _architecture_of(model: Json) -> str:
    config = model["config"]
    return f"{config.get('architecture', '?')} α {config.get('alpha', '?'):g}"


def _input_of(model: Json) -> str:
    config = model["config"]
    channels = 1 if config.get("color_mode") == "grayscale" else 3
    return f"{config.get('input_width')}×{config.get('input_height')}×{channels}"


def _print_estimate(api: MlClient, architecture: str, board_id: str, params: Json) -> None:
    """The expected int8 footprint on the board, before anything is trained."""
    estimate = api.estimate(architecture, params | {"board": board_id})
    board = next((b for b in api.list_boards() if b["id"] == board_id), None)
    ram_limit = _size(board["ram_bytes"]) if board else "?"
    flash_limit = _size(board["flash_bytes"]) if board else "?"
    verdict = "[green]fits[/green]" if estimate["fits"] else "[red]does not fit[/red]"
    console.print(
        f"Estimate for {escape(board_id)} before training ({estimate['parameters']:,} "
        f"parameters, int8 model ~{_size(estimate['flash_bytes'])}, arena "
        f"~{_size(estimate['arena_bytes'])}): RAM ~{_size(estimate['ram_estimate_bytes'])} "
        f"of {ram_limit}, flash ~{_size(estimate['flash_estimate_bytes'])} of {flash_limit}: "
        f"{verdict}"
    )
    console.print(f"[dim]{escape(estimate['basis'])}[/dim]")


def train(
    dataset: Annotated[int, typer.Option(help="The dataset's id.", show_default=False)],
    architecture: Annotated[
        str, typer.Option(help="cnn-small, mobilenet-v1 … (see tinymlaas architectures).")
    ],
    alpha: Annotated[
        float | None, typer.Option(help="The width multiplier (default: the architecture's).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="The model's name (default: dataset-architecture).")
    ] = None,
    width: Annotated[int, typer.Option(help="Input width in pixels.")] = 96,
    height: Annotated[int, typer.Option(help="Input height in pixels.")] = 96,
    color: Annotated[ColorMode, typer.Option(help="Input colours.")] = ColorMode.grayscale,
    epochs: Annotated[int, typer.Option(help="Passes over the training images.")] = 10,
    batch_size: Annotated[int, typer.Option(help="Images per training step.")] = 32,
    learning_rate: Annotated[
        float | None, typer.Option(help="Adam's learning rate (server default 0.001).")
    ] = None,
    validation_split: Annotated[
        float | None,
        typer.Option(help="Held-out fraction when the dataset has no validation folder."),
    ] = None,
    flip: Annotated[
        bool, typer.Option("--flip", help="Augment with random horizontal flips.")
    ] = False,
    rotation: Annotated[float, typer.Option(help="Augment: rotate up to this turn.")] = 0.0,
    zoom: Annotated[float, typer.Option(help="Augment: zoom up to this fraction.")] = 0.0,
    brightness: Annotated[float, typer.Option(help="Augment: brightness ± this.")] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Seed for a repeatable training.")] = None,
    base_model: Annotated[
        int | None, typer.Option(help="Continue from this model of yours, into a new one.")
    ] = None,
    board: Annotated[
        str | None, typer.Option(help="First print whether the model should fit this board.")
    ] = None,
    watch: Watch = True,
) -> None:
    """Train a new model on a dataset; follow it live and print its metrics."""
    with _api() as api:
        dataset_info = api.get_dataset(dataset)
        if board is not None:
            params: Json = {"input_width": width, "input_height": height}
            params |= {"color_mode": color.value, "classes": max(2, len(dataset_info["labels"]))}
            if alpha is not None:
                params["alpha"] = alpha
            _print_estimate(api, architecture, board, params)
        body: Json = {
            "name": name or f"{dataset_info['name']}-{architecture}",
            "dataset_id": dataset,
            "architecture": architecture,
            "alpha": alpha,
            "input_width": width,
            "input_height": height,
            "color_mode": color.value,
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "validation_split": validation_split,
            "seed": seed,
            "base_model_id": base_model,
        }
        if flip or rotation or zoom or brightness:
            body["augmentation"] = {
                "flip": flip,
                "rotation": rotation,
                "zoom": zoom,
                "brightness": brightness,
            }
        accepted = api.train(body)
        console.print(
            f"Training model '{escape(body['name'])}' (id {accepted['id']}), "
            f"job {accepted['job_id']}"
        )
        if not watch:
            console.print(f"Follow it with tinymlaas jobs watch {accepted['job_id']}")
            return
        _end_unless_succeeded(_watch(api, accepted["job_id"]))
        model = api.get_model(accepted["id"])
    for view in _metrics_view(model):
        console.print(view)


@models_app.command("list")
def list_models(
    dataset: Annotated[int | None, typer.Option(help="Only models of this dataset.")] = None,
    as_json: AsJson = False,
) -> None:
    """List your models, newest first."""
    with _api() as api:
        found = api.list_models(dataset)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    if not found:
        console.print(
            "No models yet: train one with tinymlaas train --dataset ID --architecture cnn-small"
        )
        return
    table = Table(
        "ID", "Name", "Dataset", "Architecture", "Input", "Epochs", "Status", "Val. acc.", "Created"
    )
    for model in found:
        table.add_row(
            str(model["id"]),
            escape(model["name"]),
            str(model["dataset_id"] or "-"),
            _architecture_of(model),
            _input_of(model),
            str(model["config"].get("epochs", "-")),
            model["status"],
            _percent((model["metrics"] or {}).get("val_accuracy")),
            _when(model["created_at"]),
        )
    console.print(table)


@models_app.command("show")
def show_model(model_id: ModelId) -> None:
    """Show a model: its configuration, training history and metrics."""
    with _api() as api:
        model = api.get_model(model_id)
    config = model["config"]
    rows = [
        ("Model", f"[bold]{escape(model['name'])}[/bold] (id {model['id']})"),
        ("Status", f"{model['status']} (job {model['job_id']})"),
        ("Dataset", str(model["dataset_id"] or "deleted")),
        ("Architecture", _architecture_of(model)),
        ("Input", f"{_input_of(model)} ({config.get('color_mode')})"),
        ("Classes", escape(", ".join(model["classes"])) or "-"),
        ("Parameters", f"{model['parameter_count']:,}" if model["parameter_count"] else "-"),
        (
            "Training",
            f"{config.get('epochs')} epochs, batch {config.get('batch_size')}, "
            f"learning rate {config.get('learning_rate')}, seed {config.get('seed')}",
        ),
        ("Created", _when(model["created_at"])),
    ]
    if model["base_model_id"]:
        rows.insert(3, ("Continues", f"model {model['base_model_id']}"))
    if model["error"]:
        rows.append(("Error", f"[red]{escape(model['error'])}[/red]"))
    console.print(_details(rows))
    if model["history"]:
        history = Table("Epoch", "Loss", "Accuracy", "Val. loss", "Val. accuracy", title="History")
        for entry in model["history"]:
            history.add_row(
                str(entry["epoch"]),
                _number(entry.get("loss")),
                _percent(entry.get("accuracy")),
                _number(entry.get("val_loss")),
                _percent(entry.get("val_accuracy")),
            )
        console.print(history)
    for view in _metrics_view(model):
        console.print(view)


@models_app.command("delete")
def delete_model(model_id: ModelId, yes: Yes = False) -> None:
    """Delete a model and its compiled versions."""
    with _api() as api:
        model = api.get_model(model_id)
        label = f"'{model['name']}' (id {model['id']})"
        if not yes:
            typer.confirm(f"Delete model {label} and its compiled versions?", abort=True)
        api.delete_model(model_id)
    console.print(f"Deleted model {escape(label)}")


# ---- compiling ------------------------------------------------------------------------------


def _memory_row(part: Json | None, estimate: int | None, parts: str) -> str:
    """E.g. "81.5 KiB of 256 KiB (32%) ✓  arena … + input … + runtime …"."""
    if not part:
        return _size(estimate)
    share = part["estimate_bytes"] / part["limit_bytes"] if part["limit_bytes"] else 0
    mark = "[green]✓[/green]" if part["fits"] else "[red]✗[/red]"
    return (
        f"{_size(part['estimate_bytes'])} of {_size(part['limit_bytes'])} "
        f"({share:.0%}) {mark}  [dim]{parts}[/dim]"
    )


def _compiled_view(compiled: Json, boards_by_id: dict[str, Json], files: list[Json]) -> Table:
    board = boards_by_id.get(compiled["board"])
    board_name = f"{escape(board['name'])} ({compiled['board']})" if board else compiled["board"]
    rows = [
        (
            "Compiled",
            f"[bold]id {compiled['id']}[/bold]: model {compiled['model_id']} for {board_name}, "
            f"{compiled['quantization']}",
        ),
        ("Status", f"{compiled['status']} (job {compiled['job_id']})"),
    ]
    if compiled["error"]:
        rows.append(("Error", f"[red]{escape(compiled['error'])}[/red]"))
    if compiled["status"] != "succeeded":
        return _details(rows)
    detail: Json = compiled["fit_detail"] or {}
    ram, flash = detail.get("ram"), detail.get("flash")
    ram_parts = (
        f"arena {_size(ram['arena_with_margin_bytes'])} + input {_size(ram['input_buffer_bytes'])}"
        f" + runtime {_size(ram['runtime_bytes'])}"
        if ram
        else ""
    )
    flash_parts = (
        f"model {_size(flash['model_bytes'])} + runtime {_size(flash['runtime_bytes'])}"
        if flash
        else ""
    )
    summary = str(detail.get("summary") or ("fits" if compiled["fits"] else "does not fit"))
    accuracy: Json = compiled["accuracy"] or {}
    tensor: Json = compiled["input"] or {}
    rows += [
        ("TFLite model", f"{_size(compiled['tflite_bytes'])} ({compiled['tflite_bytes']:,} B)"),
        ("Tensor arena", f"{_size(compiled['arena_bytes'])} measured in TFLite-Micro"),
        ("RAM", _memory_row(ram, compiled["ram_estimate_bytes"], ram_parts)),
        ("Flash", _memory_row(flash, compiled["flash_estimate_bytes"], flash_parts)),
        ("Verdict", f"[{'green' if compiled['fits'] else 'red'}]{escape(summary)}[/]"),
        (
            "Accuracy",
            f"float {_percent(accuracy.get('float'))} · int8 {_percent(accuracy.get('int8'))} · "
            f"TFLM {_percent(accuracy.get('tflm'))} ({accuracy.get('images', 0)} held-out images)",
        ),
        (
            "Input",
            f"{'×'.join(str(n) for n in tensor.get('shape', []))} {tensor.get('dtype', '')}, "
            f"scale {tensor.get('scale')}, zero point {tensor.get('zero_point')}",
        ),
        ("Files", ", ".join(f"{escape(f['name'])} ({_size(f['size_bytes'])})" for f in files)),
    ]
    return _details(rows)


def _print_compiled(api: MlClient, compiled: Json) -> None:
    boards_by_id = {board["id"]: board for board in api.list_boards()}
    files = api.compiled_files(compiled["id"]) if compiled["status"] == "succeeded" else []
    console.print(_compiled_view(compiled, boards_by_id, files))


def compile_model(
    model_id: ModelId,
    board: Annotated[
        str, typer.Option(help="The target board (see tinymlaas boards).", show_default=False)
    ],
    quantization: Annotated[
        Quantization, typer.Option(help="Full-integer int8, or float32.")
    ] = Quantization.int8,
    watch: Watch = True,
) -> None:
    """Quantize and compile a trained model for a board, verified in TFLite-Micro."""
    with _api() as api:
        accepted = api.compile(model_id, board, quantization.value)
        console.print(
            f"Compiling model {model_id} for {escape(board)} ({quantization.value}): "
            f"compiled id {accepted['id']}, job {accepted['job_id']}"
        )
        if not watch:
            console.print(f"Follow it with tinymlaas jobs watch {accepted['job_id']}")
            return
        _end_unless_succeeded(_watch(api, accepted["job_id"]))
        _print_compiled(api, api.get_compiled(accepted["id"]))


@compiled_app.command("list")
def list_compiled(
    model: Annotated[int | None, typer.Option(help="Only compilations of this model.")] = None,
    as_json: AsJson = False,
) -> None:
    """List your compiled models, newest first."""
    with _api() as api:
        found = api.list_compiled(model)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    if not found:
        console.print("No compiled models yet: tinymlaas compile MODEL_ID --board BOARD")
        return
    table = Table(
        "ID", "Model", "Board", "Quant.", "Status", "TFLite", "Arena", "RAM", "Flash", "Fits",
        "Acc. TFLM", "Created",
    )  # fmt: skip
    for compiled in found:
        fits = {True: "[green]yes[/green]", False: "[red]no[/red]", None: "-"}[compiled["fits"]]
        table.add_row(
            str(compiled["id"]),
            str(compiled["model_id"]),
            compiled["board"],
            compiled["quantization"],
            compiled["status"],
            _size(compiled["tflite_bytes"]),
            _size(compiled["arena_bytes"]),
            _size(compiled["ram_estimate_bytes"]),
            _size(compiled["flash_estimate_bytes"]),
            fits,
            _percent((compiled["accuracy"] or {}).get("tflm")),
            _when(compiled["created_at"]),
        )
    console.print(table)


@compiled_app.command("show")
def show_compiled(compiled_id: CompiledId) -> None:
    """Show a compiled model: footprint against its board, accuracies, files."""
    with _api() as api:
        _print_compiled(api, api.get_compiled(compiled_id))


@compiled_app.command("download")
def download_compiled(
    compiled_id: CompiledId,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="The directory to write to, created if needed (default: compiled-ID here). "
            "Files of the same names in it are replaced.",
            file_okay=False,
        ),
    ] = None,
    file: Annotated[
        str | None, typer.Option("--file", help="Only this file, e.g. model.tflite.")
    ] = None,
) -> None:
    """Download a compiled model's files, each checked against its sha256."""
    directory = output or Path(f"compiled-{compiled_id}")
    with _api() as api:
        available = api.compiled_files(compiled_id)
        if not available:
            status = api.get_compiled(compiled_id)["status"]
            raise ClientError(f"compiled model {compiled_id} has no files (it is {status})")
        files = [item for item in available if file is None or item["name"] == file]
        if not files:
            names = ", ".join(item["name"] for item in available)
            raise ClientError(f"compiled model {compiled_id} has no file {file!r}; it has {names}")
        directory.mkdir(parents=True, exist_ok=True)
        for item in files:
            with ByteProgress(f"Downloading {item['name']}", error_console) as progress:
                saved = api.download_file(compiled_id, item, directory, progress)
            console.print(f"Saved {escape(str(saved.path))} ({_size(saved.size)})")
    noun = "file" if len(files) == 1 else "files"
    console.print(f"Downloaded {len(files)} {noun} of compiled model {compiled_id}")


@compiled_app.command("delete")
def delete_compiled(compiled_id: CompiledId, yes: Yes = False) -> None:
    """Delete a compiled model and its files."""
    with _api() as api:
        compiled = api.get_compiled(compiled_id)
        label = f"{compiled_id} (model {compiled['model_id']} for {compiled['board']})"
        if not yes:
            typer.confirm(f"Delete compiled model {label} and its files?", abort=True)
        api.delete_compiled(compiled_id)
    console.print(f"Deleted compiled model {escape(label)}")
