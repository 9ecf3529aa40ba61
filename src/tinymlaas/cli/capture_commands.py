"""`tinymlaas devices capture`: camera frames from a board into a folder of a dataset."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from tinymlaas.cli.client_commands import console
from tinymlaas.cli.devices_commands import DeviceId, devices_app
from tinymlaas.cli.job_watch import end_unless_succeeded, follow_job
from tinymlaas.cli.ml_client import logged_in_client
from tinymlaas.cli.options import AsJson, Watch

MAX_FRAMES = 1000  # what one capture may ask for (the API's limit)


@devices_app.command("capture")
def capture(
    device_id: DeviceId,
    dataset: Annotated[int, typer.Option("--dataset", help="The dataset the frames go into.")],
    folder: Annotated[
        str, typer.Option("--folder", help="The folder (its label) the frames go into.")
    ],
    count: Annotated[
        int, typer.Option("--count", min=1, max=MAX_FRAMES, help="How many frames.")
    ] = 10,
    interval_ms: Annotated[
        int, typer.Option("--interval-ms", help="Milliseconds between two frames.")
    ] = 1000,
    watch: Watch = True,
    as_json: AsJson = False,
) -> None:
    """Take camera frames from the board into a folder of a dataset, as PNG images that name
    the device, board and time in their metadata."""
    payload = {"dataset_id": dataset, "folder": folder, "count": count, "interval_ms": interval_ms}
    with logged_in_client() as api:
        accepted = api.capture(device_id, payload)
        if not as_json:
            console.print(
                f"Capturing {count} frames from device {device_id} into dataset {dataset},"
                f" folder {escape(folder)}: job {accepted['job_id']} (capture {accepted['id']})"
            )
        job = follow_job(api, accepted["job_id"]) if watch and not as_json else None
        result = api.get_capture(accepted["id"]) if watch else accepted
    if as_json:
        console.print_json(json.dumps(result))
        return
    if job is None:
        console.print(f"Follow it with tinymlaas jobs watch {accepted['job_id']}")
        return
    images = result["image_ids"]
    console.print(
        f"{len(images)} frames stored in dataset {dataset}, folder {escape(folder)}"
        + (f" (images {images[0]}–{images[-1]})" if images else "")
    )
    end_unless_succeeded(job)


def register() -> None:
    """The command is on `devices_app`; importing this module added it."""
