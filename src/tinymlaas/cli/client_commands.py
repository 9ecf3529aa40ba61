"""API client commands (login, logout, whoami, datasets …); they talk to the HTTP API only."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tinymlaas.cli.client import (
    DEFAULT_SERVER,
    SERVER_ENV,
    ApiClient,
    ApiError,
    ClientError,
    Credentials,
    current_session,
    forget_credentials,
    load_credentials,
    normalize_server,
    save_credentials,
)
from tinymlaas.cli.client_types import DatasetInfo, IgnoredInfo, NameCount
from tinymlaas.cli.formatting import key, size, table, text
from tinymlaas.cli.progress import ByteProgress, ProgressFile

console = Console(soft_wrap=True)
error_console = Console(stderr=True, soft_wrap=True)
datasets_app = typer.Typer(
    help="Datasets on the server you are logged in to.", no_args_is_help=True
)
MAX_LISTED_PROBLEMS = 20

DatasetId = Annotated[int, typer.Argument(help="The dataset's id (see tinymlaas datasets list).")]


def register(app: typer.Typer) -> None:
    app.command()(login)
    app.command()(logout)
    app.command()(whoami)
    app.add_typer(datasets_app, name="datasets")


@contextmanager
def _reporting_errors() -> Iterator[None]:
    """Print a client error for people (detail in red, rejected entries listed) and exit 1."""
    try:
        yield
    except ApiError as exc:
        error_console.print(f"[red]Error: {escape(_headline(exc))}[/red]")
        for problem in exc.errors[:MAX_LISTED_PROBLEMS]:
            entry = f"{escape(problem.entry)}: " if problem.entry else ""
            error_console.print(f"  - {entry}{escape(problem.problem)}")
        if len(exc.errors) > MAX_LISTED_PROBLEMS:
            error_console.print(f"  … and {len(exc.errors) - MAX_LISTED_PROBLEMS} more")
        raise typer.Exit(1) from exc
    except ClientError as exc:
        error_console.print(f"[red]Error: {escape(str(exc))}[/red]")
        raise typer.Exit(1) from exc


def _headline(error: ApiError) -> str:
    """The detail without the entries it repeats from `errors`, which are listed below it."""
    if error.errors:
        first = error.errors[0]
        start = error.detail.find(
            f"{first.entry}: {first.problem}" if first.entry else first.problem
        )
        if start > 0:
            return error.detail[:start].rstrip(" :;")
    return error.detail


@contextmanager
def _api() -> Iterator[ApiClient]:
    """A client of the logged-in server; any client error ends the command."""
    with _reporting_errors():
        server, token = current_session()
        with ApiClient(server, token) as api:
            yield api


def _counts(items: list[NameCount]) -> str:
    return ", ".join(f"{item['name']} {item['count']}" for item in items)


def _summary(dataset: DatasetInfo) -> str:
    """E.g. "120 images, labels cat 60, dog 60"."""
    noun = "image" if dataset["image_count"] == 1 else "images"
    labels = f"labels {_counts(dataset['labels'])}" if dataset["labels"] else "no labels"
    return f"{dataset['image_count']} {noun}, {labels}"


def _print_skipped(ignored: list[IgnoredInfo]) -> None:
    """List the documentation files an upload skipped (they were not stored)."""
    if not ignored:
        return
    noun = "file" if len(ignored) == 1 else "files"
    console.print(f"Skipped {len(ignored)} documentation {noun} (not stored):")
    for item in ignored[:MAX_LISTED_PROBLEMS]:
        console.print(f"  - {escape(item['entry'])}")
    if len(ignored) > MAX_LISTED_PROBLEMS:
        console.print(f"  … and {len(ignored) - MAX_LISTED_PROBLEMS} more")


def _when(timestamp: str) -> str:
    """An API timestamp in local time, to the minute."""
    moment = datetime.fromisoformat(timestamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def login(
    server: Annotated[
        str | None,
        typer.Option(
            help=f"The server's URL (default: the last one used, or {DEFAULT_SERVER}).",
            envvar=SERVER_ENV,
            show_default=False,
        ),
    ] = None,
    username: Annotated[
        str | None, typer.Option(help="Your user name (prompted if not given).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Log in to a TinyMLaaS server and remember the token for the other commands."""
    stored = load_credentials()
    url = normalize_server(server or (stored.server if stored else DEFAULT_SERVER))
    if username is None:
        username = typer.prompt("Username", default=stored.username if stored else None)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True)
    with _reporting_errors(), ApiClient(url) as api:
        token = api.login(username, password)
    path = save_credentials(Credentials(url, username, token))
    console.print(f"Logged in to {escape(url)} as {escape(username)} (token stored in {path})")


def logout() -> None:
    """Forget the stored server and token."""
    stored = forget_credentials()
    if stored is None:
        console.print("Not logged in.")
    else:
        console.print(f"Logged out of {escape(stored.server)}")


def whoami() -> None:
    """Show who you are logged in as, and where."""
    with _api() as api:
        user = api.me()
        server = api.server
    role = "administrator" if user["is_admin"] else "user"
    console.print(f"{escape(user['username'])} ({role}) on {escape(server)}")


@datasets_app.command("list")
def list_datasets(
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON instead.")] = False,
) -> None:
    """List your datasets, newest first."""
    with _api() as api:
        page = api.list_datasets()
    if as_json:
        typer.echo(json.dumps(page, indent=2))
        return
    if not page["items"]:
        console.print(
            "No datasets yet: import a zip with tinymlaas datasets import ZIP --name NAME, "
            "or create an empty one with tinymlaas datasets create NAME"
        )
        return
    listed = table(
        key("ID"), text("Name", 22), key("Images"), text("Labels", 22), key("Size")
    )  # 80 columns; when each was updated is in --json and `datasets show`
    for dataset in page["items"]:
        listed.add_row(
            str(dataset["id"]),
            escape(dataset["name"]),
            str(dataset["image_count"]),
            escape(_counts(dataset["labels"])) or "-",
            size(dataset["size_bytes"]),
        )
    console.print(listed)


@datasets_app.command("show")
def show_dataset(dataset_id: DatasetId) -> None:
    """Show a dataset: counts per label and split, and its folders."""
    with _api() as api:
        dataset = api.get_dataset(dataset_id)
        folders = api.list_folders(dataset_id)
    details = Table.grid(padding=(0, 2))
    details.add_row("Name", f"[bold]{escape(dataset['name'])}[/bold] (id {dataset['id']})")
    if dataset["description"]:
        details.add_row("Description", escape(dataset["description"]))
    details.add_row("Images", f"{dataset['image_count']} ({size(dataset['size_bytes'])})")
    details.add_row("Labels", escape(_counts(dataset["labels"])) or "-")
    details.add_row("Splits", escape(_counts(dataset["splits"])) or "-")
    details.add_row("Created", _when(dataset["created_at"]))
    details.add_row("Updated", _when(dataset["updated_at"]))
    console.print(details)
    if not folders:
        console.print("No folders.")
        return
    listed = table(
        text("Folder", 26), text("Label", 16), key("Split"), key("Images"), key("Total"),
        title="Folders (Total: with subfolders)",
    )  # fmt: skip
    for folder in folders:
        listed.add_row(
            escape(folder["path"]),
            escape(folder["label"] or "-"),
            folder["split"] or "-",
            str(folder["image_count"]),
            str(folder["total_image_count"]),
        )
    console.print(listed)


@datasets_app.command("create")
def create_dataset(
    name: Annotated[str, typer.Argument(help="A name unique among your datasets.")],
    description: Annotated[str, typer.Option(help="What the dataset holds.")] = "",
) -> None:
    """Create an empty dataset."""
    with _api() as api:
        dataset = api.create_dataset(name, description)
    console.print(
        f"Created dataset '{escape(dataset['name'])}' (id {dataset['id']}); add images with "
        f"tinymlaas datasets add {dataset['id']} FILE... --folder LABEL"
    )


@datasets_app.command("import")
def import_dataset(
    archive: Annotated[
        Path,
        typer.Argument(
            help="A zip of images; its folders become folders (and labels).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    name: Annotated[
        str | None, typer.Option(help="The new dataset's name (default: the zip's name).")
    ] = None,
    description: Annotated[str, typer.Option(help="What the dataset holds.")] = "",
) -> None:
    """Create a dataset from a zip of images, keeping its folders."""
    name = name or archive.stem
    with (
        _api() as api,
        ByteProgress(f"Uploading {archive.name}", error_console, "Importing") as progress,
        ProgressFile(archive, progress) as file,
    ):
        progress.start(os.fstat(file.fileno()).st_size)
        dataset = api.import_dataset(file, archive.name, name, description)
    console.print(f"Imported '{escape(dataset['name'])}' (id {dataset['id']}): {_summary(dataset)}")
    _print_skipped(dataset["ignored"])


@datasets_app.command("add")
def add_images(
    dataset_id: DatasetId,
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Images, or zips of images.", exists=True, dir_okay=False, readable=True
        ),
    ],
    folder: Annotated[
        str,
        typer.Option(help="The folder to add to, e.g. cat or train/cat (default: the top level)."),
    ] = "",
) -> None:
    """Add images (or zips of images) to a dataset's folder; nothing is stored if any is bad."""
    with _api() as api:
        before = api.get_dataset(dataset_id)
        with (
            ByteProgress(f"Uploading {len(files)} files", error_console, "Adding") as progress,
            ExitStack() as stack,
        ):
            opened = [stack.enter_context(ProgressFile(path, progress)) for path in files]
            progress.start(sum(os.fstat(file.fileno()).st_size for file in opened))
            uploads = [
                ("files", (path.name, file)) for path, file in zip(files, opened, strict=True)
            ]
            dataset = api.add_images(dataset_id, uploads, folder)
    added = dataset["image_count"] - before["image_count"]
    where = f" in folder '{escape(folder)}'" if folder else ""
    console.print(
        f"Added {added} {'image' if added == 1 else 'images'}{where} to "
        f"'{escape(dataset['name'])}' (id {dataset['id']}): now {_summary(dataset)}"
    )
    _print_skipped(dataset["ignored"])


@datasets_app.command("export")
def export_dataset(
    dataset_id: DatasetId,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="The zip to write, or a directory (default: the dataset's name, here).",
        ),
    ] = None,
) -> None:
    """Download a dataset as a zip with its folders and byte-identical images."""
    with _api() as api, ByteProgress("Downloading", error_console) as progress:
        saved = api.export_dataset(dataset_id, output, progress)
    console.print(f"Saved dataset {dataset_id} to {escape(str(saved.path))} ({size(saved.size)})")


@datasets_app.command("delete")
def delete_dataset(
    dataset_id: DatasetId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a dataset and every image in it."""
    with _api() as api:
        dataset = api.get_dataset(dataset_id)
        label = f"'{dataset['name']}' (id {dataset['id']})"
        if not yes:
            typer.confirm(
                f"Delete dataset {label} and its {dataset['image_count']} images?", abort=True
            )
        api.delete_dataset(dataset_id)
    console.print(f"Deleted dataset {escape(label)}")
