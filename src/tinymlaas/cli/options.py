"""Arguments and options shared by the API client commands."""

from __future__ import annotations

from typing import Annotated

import typer

Watch = Annotated[bool, typer.Option("--watch/--no-watch", help="Follow the job until it ends.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead.")]
ModelId = Annotated[int, typer.Argument(help="The model's id (see tinymlaas models list).")]
