"""`tinymlaas weights …`: the ImageNet weights cache (on the server) and your uploaded bases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from tinymlaas.cli.client_commands import console, error_console
from tinymlaas.cli.formatting import key, size, table, text
from tinymlaas.cli.ml_client import logged_in_client
from tinymlaas.cli.options import AsJson, Yes
from tinymlaas.config import Settings

weights_app = typer.Typer(
    help="Pretrained starting weights: Keras's ImageNet files and your own bases.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(weights_app, name="weights")


@weights_app.command("import")
def import_weights(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="a Keras ImageNet 'no top' .h5 file"),
    ],
    architecture: Annotated[
        str | None, typer.Option(help="mobilenet-v1 or mobilenet-v2, if the file was renamed")
    ] = None,
    alpha: Annotated[float | None, typer.Option(help="its α, if the file was renamed")] = None,
    size_px: Annotated[
        int | None, typer.Option("--size", help="the input size it was trained at, if renamed")
    ] = None,
) -> None:
    """Put ImageNet weights into the server's cache (run on the server, e.g. offline)."""
    from tinymlaas.training import pretrained, weights_file

    target = pretrained.published_file(file.name)
    if target is None and architecture and alpha and size_px:
        try:
            target = pretrained.imagenet_file(architecture, alpha, size_px, size_px)
        except pretrained.NoPretrainedWeights as exc:
            error_console.print(f"[red]Error:[/red] {escape(str(exc))}")
            raise typer.Exit(1) from exc
    if target is None:
        error_console.print(
            f"[red]Error:[/red] {escape(file.name)} is not one of Keras's ImageNet file names"
            " (e.g. mobilenet_2_5_128_tf_no_top.h5): give --architecture, --alpha and --size"
        )
        raise typer.Exit(2)
    weights_dir = Settings().resolved_weights_dir
    try:
        stored = weights_file.store_in_cache(file, weights_dir, target)
    except weights_file.UnsuitableWeights as exc:
        error_console.print(f"[red]Error:[/red] {escape(file.name)}: {escape(str(exc))}")
        raise typer.Exit(1) from exc
    console.print(
        f"Stored {escape(str(stored))}: {target.architecture} α{target.alpha:g}, ImageNet at"
        f" {target.size} px. Trainings with weights 'imagenet' now start from it."
    )


@weights_app.command("list")
def list_weights(as_json: AsJson = False) -> None:
    """List the ImageNet files in the server's weights cache (run on the server)."""
    from tinymlaas.training import pretrained

    settings = Settings()
    weights_dir = settings.resolved_weights_dir
    files = [
        (pretrained.published_file(name), (weights_dir / name).stat().st_size)
        for name in pretrained.cached_filenames(weights_dir)
    ]
    if as_json:
        found = [
            {"filename": f.filename, "architecture": f.architecture, "alpha": f.alpha,
             "size": f.size, "bytes": count}
            for f, count in files if f is not None
        ]  # fmt: skip
        typer.echo(json.dumps(found, indent=2))
        return
    downloads = "on" if settings.weights_download else "off (TINYMLAAS_WEIGHTS_DOWNLOAD)"
    console.print(f"Weights cache {escape(str(weights_dir))}; downloads {downloads}")
    listed = table(text("File", 44), key("Architecture"), key("α"), key("Size (px)"), key("Bytes"))
    for found_file, count in files:
        if found_file is not None:
            listed.add_row(
                found_file.filename,
                found_file.architecture,
                f"{found_file.alpha:g}",
                str(found_file.size),
                size(count),
            )
    console.print(listed if files else "No ImageNet files cached yet.")


@weights_app.command("upload")
def upload_weights(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="a Keras HDF5 base model (.h5)")
    ],
    name: Annotated[str | None, typer.Option(help="default: the file's name")] = None,
) -> None:
    """Upload a base model of your own to train from (tinymlaas train --weights ID)."""
    with logged_in_client() as api:
        base = api.upload_weights(file, name)
    console.print(
        f"Uploaded '{escape(base['name'])}' (id {base['id']}): {base['architecture']}"
        f" α{base['alpha']:g}, {base['channels']} input channel(s),"
        f" {base['parameter_count']:,} weights in {base['layer_count']} layers"
    )


@weights_app.command("bases")
def list_bases(as_json: AsJson = False) -> None:
    """List the base models you uploaded."""
    with logged_in_client() as api:
        found = api.list_weights()
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    listed = table(key("ID"), text("Name", 24), key("Architecture"), key("α"), key("Channels"))
    for base in found:
        listed.add_row(
            str(base["id"]),
            escape(base["name"]),
            base["architecture"],
            f"{base['alpha']:g}",
            str(base["channels"]),
        )
    console.print(listed if found else "No bases yet: tinymlaas weights upload FILE")


@weights_app.command("delete")
def delete_base(
    weights_id: Annotated[int, typer.Argument(help="the base's id")], yes: Yes = False
) -> None:
    """Delete a base model you uploaded."""
    if not yes:
        typer.confirm(f"Delete base weights {weights_id}?", abort=True)
    with logged_in_client() as api:
        api.delete_weights(weights_id)
    console.print(f"Deleted base weights {weights_id}")
