"""Following a job live over its Server-Sent Events: train, compile, jobs watch, installs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import TracebackType

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from tinymlaas.cli.client import ApiError, ClientError, NotLoggedIn
from tinymlaas.cli.client_commands import console, error_console
from tinymlaas.cli.formatting import Json, number, percent
from tinymlaas.cli.ml_client import MlClient
from tinymlaas.enums import FINISHED_STATUSES, JobStatus

RECONNECT_ATTEMPTS = 5
INTERRUPTED_EXIT_CODE = 130


def job_events(api: MlClient, job_id: int) -> Iterator[tuple[str, Json]]:
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


def epoch_metrics(entry: Json) -> str:
    """E.g. "loss 0.412 · accuracy 88.0% · val_accuracy 91.7%"."""
    parts = [f"loss {number(entry.get('loss'))}"]
    parts += [
        f"{key} {percent(entry[key])}"
        for key in ("accuracy", "val_accuracy")
        if entry.get(key) is not None
    ]
    return " · ".join(parts)


class JobDisplay:
    """A live bar of the job's progress and message on a terminal; log lines otherwise.

    Either way, state changes, each epoch's metrics and an installer's output lines are
    printed as lines, so they stay in the scrollback (and in a CI log) after the bar is gone.
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
            self._log(f"epoch {data.get('epoch')}: {epoch_metrics(data)}")
            self._progress.update(self._task, metrics=epoch_metrics(data))
        elif kind == "log":  # a line of an installer's output
            self._log(str(data.get("line", "")))

    def _state(self, data: Json) -> None:
        self.status = str(data.get("status", self.status))
        if self.status in FINISHED_STATUSES:
            line = f"{self.status}: {data['error']}" if data.get("error") else self.status
        elif data.get("cancelling"):
            line = "cancelling…"
        elif self.status == JobStatus.running and data.get("worker"):
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
        fraction = f"{float(data['progress']) * 100:3.0f}%" if "progress" in data else None
        self._log(f"[{fraction}] {line}" if fraction else line)

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


def follow_job(api: MlClient, job_id: int) -> Json:
    """Follow a job to its end and return it; Ctrl-C stops watching, not the job."""
    job = api.get_job(job_id)
    try:
        with JobDisplay(job) as display:
            for kind, data in job_events(api, job_id):
                display.show(kind, data)
    except KeyboardInterrupt:
        error_console.print(
            f"Stopped watching. Job {job_id} continues on the server: "
            f"tinymlaas jobs watch {job_id} to follow it again, "
            f"tinymlaas jobs cancel {job_id} to stop it."
        )
        raise typer.Exit(INTERRUPTED_EXIT_CODE) from None
    return api.get_job(job_id)


def end_unless_succeeded(job: Json) -> None:
    """Print how a job ended; exit 1 unless it succeeded."""
    if job["status"] == JobStatus.succeeded:
        console.print(f"[green]Job {job['id']} succeeded[/green]")
        return
    if job["status"] == JobStatus.failed:
        error_console.print(f"[red]Job {job['id']} failed: {escape(job['error'] or '')}[/red]")
    elif job["status"] == JobStatus.cancelled:
        error_console.print(f"[red]Job {job['id']} was cancelled[/red]")
    else:
        error_console.print(f"[red]Job {job['id']} is {job['status']}[/red]")
    raise typer.Exit(1)
