"""`tinymlaas bridges …` and `devices …`: boards, installs and live predictions over the API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Annotated

import typer
from rich.markup import escape

from tinymlaas.cli.client import ApiError, ClientError, NotLoggedIn
from tinymlaas.cli.client_commands import console, error_console
from tinymlaas.cli.formatting import (
    Json,
    details,
    flash_parts,
    key,
    memory_row,
    moment,
    percent,
    ram_parts,
    table,
    text,
)
from tinymlaas.cli.job_watch import (
    INTERRUPTED_EXIT_CODE,
    RECONNECT_ATTEMPTS,
    end_unless_succeeded,
    follow_job,
)
from tinymlaas.cli.ml_client import BoardMismatch, MlClient, ModelDoesNotFit, logged_in_client
from tinymlaas.cli.options import AsJson, Watch, Yes

bridges_app = typer.Typer(
    help="Bridges: the machines your boards are plugged into.", no_args_is_help=True
)
devices_app = typer.Typer(
    help="Boards your bridges report: install models, watch their predictions.",
    no_args_is_help=True,
)

BridgeId = Annotated[int, typer.Argument(help="The bridge's id (see tinymlaas bridges list).")]
DeviceId = Annotated[int, typer.Argument(help="The device's id (see tinymlaas devices list).")]
STATUS_COLOURS = {"online": "green", "busy": "yellow", "offline": "red"}


def register(app: typer.Typer) -> None:
    app.add_typer(bridges_app, name="bridges")
    app.add_typer(devices_app, name="devices")


def _status(status: str) -> str:
    colour = STATUS_COLOURS.get(status, "default")
    return f"[{colour}]{escape(status)}[/{colour}]"


def _top_score(observation: Json) -> float | None:
    """The score of the predicted label (the highest one if the label has none)."""
    scores: Json = observation.get("scores") or {}
    if observation["label"] in scores:
        return float(scores[observation["label"]])
    return max((float(score) for score in scores.values()), default=None)


def _latency(observation: Json) -> str:
    latency = observation.get("latency_ms")
    return "-" if latency is None else f"{latency:.1f} ms"


# ---- bridges ------------------------------------------------------------------------------


@bridges_app.command("create")
def create_bridge(name: Annotated[str, typer.Argument(help="A name for the bridge.")]) -> None:
    """Register a bridge and print its token (shown only once) and the command that starts it."""
    with logged_in_client() as api:
        created = api.create_bridge(name)
    console.print(f"Created bridge '{escape(created['name'])}' (id {created['id']})")
    console.print(
        "[yellow]Its token is shown only this once and cannot be shown again: store it now. "
        "It lets a machine act as this bridge; revoke it with "
        f"tinymlaas bridges delete {created['id']}.[/yellow]"
    )
    console.print(f"Token: {escape(created['token'])}", highlight=False)
    console.print("Start the bridge on the machine the boards are plugged into with:")
    console.print(f"  {escape(created['command'])}", highlight=False)


@bridges_app.command("list")
def list_bridges(as_json: AsJson = False) -> None:
    """List your bridges: online or offline, and when each was last heard from."""
    with logged_in_client() as api:
        found = api.list_bridges()
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    if not found:
        console.print("No bridges yet: tinymlaas bridges create NAME")
        return
    # 80 columns: each bridge's version is in --json
    listed = table(
        key("ID"), text("Name", 16), key("Status"), text("Hostname", 18), key("Last seen")
    )
    for bridge in found:
        listed.add_row(
            str(bridge["id"]),
            escape(bridge["name"]),
            _status(bridge["status"]),
            escape(bridge["hostname"] or "-"),
            moment(bridge["last_seen"]),
        )
    console.print(listed)


@bridges_app.command("delete")
def delete_bridge(bridge_id: BridgeId, yes: Yes = False) -> None:
    """Revoke a bridge's token: it is disconnected and its devices are removed."""
    with logged_in_client() as api:
        bridge = next((b for b in api.list_bridges() if b["id"] == bridge_id), None)
        label = f"'{bridge['name']}' (id {bridge_id})" if bridge else str(bridge_id)
        if not yes:
            typer.confirm(
                f"Revoke bridge {label}? It is disconnected and its devices are removed.",
                abort=True,
            )
        api.delete_bridge(bridge_id)
    console.print(f"Revoked bridge {escape(label)}")


# ---- devices ------------------------------------------------------------------------------


@devices_app.command("list")
def list_devices(as_json: AsJson = False) -> None:
    """List the boards your bridges have seen, with their status and installed model."""
    with logged_in_client() as api:
        found = api.list_devices()
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    if not found:
        console.print(
            "No devices yet: create a bridge with tinymlaas bridges create NAME "
            "and start it where the boards are plugged in"
        )
        return
    # 80 columns: the serial number and when it was last seen are in `devices show` and --json
    listed = table(
        key("ID"), text("Name", 12), key("Board"), text("Port", 13), key("Status"),
        key("Installed"),
    )  # fmt: skip
    for device in found:
        installed = device["installed"]
        listed.add_row(
            str(device["id"]),
            escape(device["name"]),
            escape(device["board"] or "-"),
            escape(device["port"]),
            _status(device["status"]),
            str(installed["compiled_id"]) if installed else "-",
        )
    console.print(listed)


def _print_device(device: Json) -> None:
    installed = device["installed"]
    rows = [
        ("Device", f"[bold]{escape(device['name'])}[/bold] (id {device['id']})"),
        ("Status", _status(device["status"])),
        ("Bridge", str(device["bridge_id"])),
        ("Board", escape(device["board"] or "unknown: tinymlaas devices set-board ID BOARD")),
        ("Port", escape(device["port"]) + (" (virtual)" if device["virtual"] else "")),
        ("Serial", escape(device["serial_number"] or "-")),
        (
            "Installed",
            f"compiled model {installed['compiled_id']} at {moment(installed['installed_at'])}"
            if installed
            else "-",
        ),
        ("Running", escape(device["running_model_id"] or "-")),
        ("Last seen", moment(device["last_seen"])),
    ]
    console.print(details(rows))


@devices_app.command("show")
def show_device(device_id: DeviceId) -> None:
    """Show a device: its board, port, status and the model it runs."""
    with logged_in_client() as api:
        device = api.get_device(device_id)
    _print_device(device)


@devices_app.command("rename")
def rename_device(
    device_id: DeviceId, name: Annotated[str, typer.Argument(help="The new name.")]
) -> None:
    """Give a device a name of your own."""
    with logged_in_client() as api:
        device = api.update_device(device_id, {"name": name})
    console.print(f"Renamed device {device['id']} to '{escape(device['name'])}'")


@devices_app.command("set-board")
def set_board(
    device_id: DeviceId,
    board: Annotated[str, typer.Argument(help="The board's id (see tinymlaas boards).")],
) -> None:
    """Say which board a device is, when the bridge could not tell (or guessed wrong)."""
    with logged_in_client() as api:
        device = api.update_device(device_id, {"board": board})
    console.print(f"Device {device['id']} ('{escape(device['name'])}') is a {device['board']}")


def _print_refusal(refused: ModelDoesNotFit) -> None:
    """The server's reason and the RAM and flash it needs against what the board has."""
    error_console.print(f"[red]Error: {escape(refused.detail)}[/red]")
    rows = []
    if refused.ram:
        rows.append(("RAM", memory_row(refused.ram, None, ram_parts(refused.ram))))
    if refused.flash:
        rows.append(("Flash", memory_row(refused.flash, None, flash_parts(refused.flash))))
    if rows:
        error_console.print(details(rows))


@devices_app.command("install")
def install(
    device_id: DeviceId,
    compiled: Annotated[
        int,
        typer.Option(
            "--compiled",
            help="The compiled model (see tinymlaas compiled list).",
            show_default=False,
        ),
    ],
    watch: Watch = True,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Install a model compiled for another board than the device's (for experts).",
        ),
    ] = False,
) -> None:
    """Install a compiled model on a device; refused before flashing if it cannot fit or was
    compiled for another board (virtual devices take any board's model)."""
    with logged_in_client() as api:
        try:
            accepted = api.install(device_id, compiled, force)
        except ModelDoesNotFit as refused:
            _print_refusal(refused)
            raise typer.Exit(1) from None
        except BoardMismatch as refused:
            error_console.print(f"[red]Error: {escape(refused.detail)}[/red]")
            error_console.print(
                f"Install it anyway with: tinymlaas devices install {device_id}"
                f" --compiled {compiled} --force",
                highlight=False,
            )
            raise typer.Exit(1) from None
        console.print(
            f"Installing compiled model {compiled} on device {device_id}: job {accepted['job_id']}"
        )
        if not watch:
            console.print(f"Follow it with tinymlaas jobs watch {accepted['job_id']}")
            return
        end_unless_succeeded(follow_job(api, accepted["job_id"]))
    console.print(
        f"Device {device_id} runs compiled model {compiled}: "
        f"tinymlaas devices observe {device_id} to watch its predictions"
    )


@devices_app.command("observations")
def list_observations(
    device_id: DeviceId,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many of the latest.")] = 20,
    as_json: AsJson = False,
) -> None:
    """List a device's latest stored predictions, oldest first."""
    with logged_in_client() as api:
        page = api.list_observations(device_id, limit)
    found: list[Json] = page["items"]
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    if not found:
        console.print(f"No predictions from device {device_id} yet")
        return
    listed = table(
        key("Time"), text("Label", 14), key("Score"), key("Latency"), text("Source", 16),
        title=f"The latest {len(found)} of {page['total']} predictions of device {device_id}",
    )  # fmt: skip
    for observation in found:
        listed.add_row(
            moment(observation["ts"]),
            escape(observation["label"]),
            percent(_top_score(observation)),
            _latency(observation),
            escape(observation["source"] or "-"),
        )
    console.print(listed)


def _live_observations(api: MlClient, device_id: int) -> Iterator[Json]:
    """The device's new predictions, forever, across dropped connections.

    Starts after the latest stored prediction and resumes with `Last-Event-ID`, so a
    reconnect neither repeats nor misses one.
    """
    latest = api.list_observations(device_id, 1)["items"]
    last_id: str | None = str(latest[-1]["id"]) if latest else "0"
    failures = 0
    while True:
        try:
            for event in api.observe(device_id, last_id):
                last_id, failures = event.id or last_id, 0
                if event.event == "observation" and event.data:
                    yield json.loads(event.data)
        except (ApiError, NotLoggedIn):
            raise
        except ClientError:
            failures += 1
            if failures > RECONNECT_ATTEMPTS:
                raise
            time.sleep(min(0.25 * 2**failures, 5.0))
            continue
        time.sleep(0.5)  # the server closed the stream (a restart): open it again


def _prediction_line(observation: Json) -> str:
    """E.g. "2024-05-01 12:00:01  dark  97.3%  12.4 ms  dark/0.png"."""
    return "  ".join(
        [
            moment(observation["ts"]),
            observation["label"],
            percent(_top_score(observation)),
            _latency(observation),
            observation["source"] or "-",
        ]
    )


@devices_app.command("observe")
def observe(device_id: DeviceId) -> None:
    """Print a device's predictions live, one line each, until Ctrl-C."""
    try:
        with logged_in_client() as api:
            device = api.get_device(device_id)
            error_console.print(
                f"Predictions of device {device_id} ('{escape(device['name'])}', "
                f"{_status(device['status'])}) as they arrive; Ctrl-C to stop"
            )
            for observation in _live_observations(api, device_id):
                console.print(escape(_prediction_line(observation)), highlight=False)
    except KeyboardInterrupt:
        raise typer.Exit(INTERRUPTED_EXIT_CODE) from None
