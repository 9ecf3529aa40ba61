"""`tinymlaas jobs …`: list, show, watch and cancel jobs over the API."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from tinymlaas.cli.client_commands import _when, console
from tinymlaas.cli.formatting import details, key, percent, table, text
from tinymlaas.cli.job_watch import end_unless_succeeded, follow_job
from tinymlaas.cli.ml_client import logged_in_client
from tinymlaas.cli.options import AsJson
from tinymlaas.enums import JobStatus

jobs_app = typer.Typer(help="Training, compiling and install jobs.", no_args_is_help=True)

JobId = Annotated[int, typer.Argument(help="The job's id (see tinymlaas jobs list).")]


def register(app: typer.Typer) -> None:
    app.add_typer(jobs_app, name="jobs")


@jobs_app.command("watch")
def watch_job(job_id: JobId) -> None:
    """Follow a job live until it ends; exit 1 if it failed or was cancelled."""
    with logged_in_client() as api:
        job = follow_job(api, job_id)
    end_unless_succeeded(job)


@jobs_app.command("list")
def list_jobs(
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this state.")] = None,
    as_json: AsJson = False,
) -> None:
    """List your jobs, newest first."""
    with logged_in_client() as api:
        found = api.list_jobs(status.value if status else None)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    if not found:
        console.print("No jobs." if status is None else f"No {status.value} jobs.")
        return
    # 80 columns: when each started and finished is in `jobs show` and --json
    listed = table(
        key("ID"), key("Kind"), key("Status"), key("Done"), text("Message", 19), key("Created")
    )
    for job in found:
        listed.add_row(
            str(job["id"]),
            job["kind"],
            job["status"],
            percent(job["progress"]),
            escape(job["message"]),
            _when(job["created_at"]),
        )
    console.print(listed)


@jobs_app.command("show")
def show_job(job_id: JobId) -> None:
    """Show a job's state, progress and timing."""
    with logged_in_client() as api:
        job = api.get_job(job_id)
    rows = [
        ("Job", f"[bold]{job['id']}[/bold] ({job['kind']}, by {escape(job['owner'])})"),
        ("Status", job["status"]),
        ("Progress", f"{percent(job['progress'])}: {escape(job['message'])}"),
        ("Created", _when(job["created_at"])),
        ("Started", _when(job["started_at"]) if job["started_at"] else "-"),
        ("Finished", _when(job["finished_at"]) if job["finished_at"] else "-"),
        ("Worker", escape(job["worker"] or "-")),
        ("Attempts", str(job["attempts"])),
    ]
    if job["error"]:
        rows.append(("Error", f"[red]{escape(job['error'])}[/red]"))
    console.print(details(rows))


@jobs_app.command("cancel")
def cancel_job(job_id: JobId) -> None:
    """Cancel a queued job, or stop a running one (training at its next batch, an install now)."""
    with logged_in_client() as api:
        job = api.cancel_job(job_id)
    if job["status"] == JobStatus.cancelled:
        console.print(f"Cancelled job {job_id}")
    else:
        console.print(
            f"Asked job {job_id} to stop (a training stops at its next batch, an install"
            f" when the bridge has stopped the installer); follow it with"
            f" tinymlaas jobs watch {job_id}"
        )
