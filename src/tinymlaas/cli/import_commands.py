"""`tinymlaas models import`: bring a model trained elsewhere (.tflite int8 or .keras)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from tinymlaas.cli.client_commands import console
from tinymlaas.cli.formatting import details
from tinymlaas.cli.job_watch import end_unless_succeeded, follow_job
from tinymlaas.cli.ml_client import logged_in_client
from tinymlaas.cli.options import Watch
from tinymlaas.cli.training_commands import models_app


def register() -> None:
    models_app.command("import")(import_model)


def import_model(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="an int8 .tflite, or a .keras"),
    ],
    classes: Annotated[
        str, typer.Option("--classes", help="class names in the model's output order: a,b,c")
    ],
    name: Annotated[str | None, typer.Option("--name", help="default: the file's name")] = None,
    dataset: Annotated[
        int | None,
        typer.Option(
            "--dataset",
            help="dataset whose images measure accuracy (and calibrate a .keras: required)",
        ),
    ] = None,
    watch: Watch = True,
) -> None:
    """Import a model trained elsewhere; then compile it like a trained one."""
    with logged_in_client() as api:
        model = api.import_model(file, classes, name, dataset)
        facts = model["imported"] or {}
        config = model["config"]
        console.print(
            details(
                [
                    ("Model", f"[bold]{escape(model['name'])}[/bold] (id {model['id']})"),
                    ("File", f"{escape(facts.get('filename', ''))} ({facts.get('format')})"),
                    ("Status", str(model["status"])),
                    ("Classes", escape(", ".join(model["classes"]))),
                    ("Dataset", str(model["dataset_id"] or "none: no accuracy when compiled")),
                ]
                + (
                    [
                        (
                            "Input",
                            f"{config['input_width']}×{config['input_height']}"
                            f" {config['color_mode']}",
                        ),
                        ("Operators", ", ".join(facts.get("operators") or [])),
                    ]
                    if facts.get("format") == "tflite"
                    else []
                )
            )
        )
        if model["job_id"] is not None and watch:
            job = follow_job(api, model["job_id"])
            end_unless_succeeded(job)
