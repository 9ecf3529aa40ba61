"""`tinymlaas datasets versions …`: snapshots of a dataset, listed, shown, exported, compared."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from tinymlaas.cli.client import ApiClient
from tinymlaas.cli.client_commands import (
    DatasetId,
    _api,
    _counts,
    _when,
    console,
    datasets_app,
    error_console,
)
from tinymlaas.cli.formatting import Json, details, key, size, table, text
from tinymlaas.cli.progress import ByteProgress

versions_app = typer.Typer(
    help="Versions of a dataset: immutable snapshots that trainings record.",
    no_args_is_help=True,
)
Number = Annotated[int, typer.Argument(help="The version's number in its dataset (1, 2, 3…).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead.")]


def register() -> None:
    datasets_app.add_typer(versions_app, name="versions")


def _get(api: ApiClient, path: str, params: dict[str, Any] | None = None) -> Json:
    found: Json = api._request("GET", path, params=params).json()
    return found


def _models(version: Json) -> str:
    return ", ".join(f"{model['name']} ({model['id']})" for model in version["models"])


@versions_app.command("list")
def list_versions(dataset_id: DatasetId, as_json: AsJson = False) -> None:
    """List a dataset's versions, newest first."""
    with _api() as api:
        page = _get(api, f"/datasets/{dataset_id}/versions", {"limit": 1000})
    if as_json:
        typer.echo(json.dumps(page, indent=2))
        return
    if not page["items"]:
        console.print(
            f"No versions yet: make one with tinymlaas datasets versions create {dataset_id}"
            " --note TEXT (training makes one too)"
        )
        return
    listed = table(
        key("Version"), text("Note", 20), key("Images"), text("Labels", 18), text("Models", 14)
    )
    for version in page["items"]:
        listed.add_row(
            f"v{version['number']}",
            escape(version["note"]) or "-",
            str(version["image_count"]),
            escape(_counts(version["labels"])) or "-",
            escape(_models(version)) or "-",
        )
    console.print(listed)


@versions_app.command("create")
def create_version(
    dataset_id: DatasetId,
    note: Annotated[str, typer.Option(help="What this version is.")] = "",
) -> None:
    """Snapshot a dataset's folders and images as its next version."""
    with _api() as api:
        body = {"note": note}
        path = f"/datasets/{dataset_id}/versions"
        version: Json = api._request("POST", path, json_body=body).json()
    console.print(
        f"Created version {version['number']} of '{escape(version['dataset_name'])}':"
        f" {version['image_count']} images, labels {escape(_counts(version['labels'])) or '-'}"
    )


@versions_app.command("show")
def show_version(dataset_id: DatasetId, number: Number, as_json: AsJson = False) -> None:
    """Show a version: counts per label and split, and the models that learnt from it."""
    with _api() as api:
        version = _get(api, f"/datasets/{dataset_id}/versions/{number}")
    if as_json:
        typer.echo(json.dumps(version, indent=2))
        return
    rows = [
        ("Version", f"[bold]v{version['number']}[/bold] of {escape(version['dataset_name'])}"),
        ("Note", escape(version["note"]) or "-"),
        ("Images", f"{version['image_count']} ({size(version['size_bytes'])})"),
        ("Labels", escape(_counts(version["labels"])) or "-"),
        ("Splits", escape(_counts(version["splits"])) or "-"),
        ("Folders", str(len(version["folders"]))),
        ("Models", escape(_models(version)) or "-"),
        ("Created", _when(version["created_at"])),
        ("Fingerprint", version["fingerprint"]),
    ]
    console.print(details(rows))


@versions_app.command("export")
def export_version(
    dataset_id: DatasetId,
    number: Number,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="The zip to write, or a directory (default: NAME-vN.zip, here)."
        ),
    ] = None,
) -> None:
    """Download a version as a zip, in the same layout as the dataset's export."""
    path = f"/datasets/{dataset_id}/versions/{number}/export"
    with _api() as api, ByteProgress("Downloading", error_console) as progress:
        saved = api.download(path, output, progress, f"dataset-{dataset_id}-v{number}.zip")
    console.print(
        f"Saved version {number} of dataset {dataset_id} to {escape(str(saved.path))}"
        f" ({size(saved.size)})"
    )


@versions_app.command("diff")
def diff_versions(
    dataset_id: DatasetId,
    from_number: Annotated[int, typer.Argument(metavar="FROM", help="The older version.")],
    to_number: Annotated[
        int | None,
        typer.Argument(metavar="[TO]", help="The newer version (default: the dataset now)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """What changed between two versions, per label: added, removed, relabelled images."""
    params: dict[str, Any] = {"from": from_number}
    if to_number is not None:
        params["to"] = to_number
    with _api() as api:
        found = _get(api, f"/datasets/{dataset_id}/versions/diff", params)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    target = f"v{to_number}" if to_number is not None else "now"
    console.print(
        f"v{from_number} → {target}: {found['added']} added, {found['removed']} removed,"
        f" {found['relabelled']} relabelled, {found['unchanged']} unchanged"
    )
    if not found["labels"]:
        return
    listed = table(
        text("Label", 20), key("Before"), key("After"), key("Added"), key("Removed"),
        key("Relab. in"), key("Relab. out"),
    )  # fmt: skip
    for change in found["labels"]:
        label = change["label"] if change["label"] is not None else "(no label)"
        listed.add_row(
            escape(label),
            *(str(change[name]) for name in ("before", "after", "added", "removed")),
            str(change["relabelled_in"]),
            str(change["relabelled_out"]),
        )
    console.print(listed)
