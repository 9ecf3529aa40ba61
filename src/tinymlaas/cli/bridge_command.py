"""`tinymlaas bridge`: run on the machine the boards are plugged into."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command()(bridge)


def bridge(
    server: Annotated[str, typer.Option(help="The TinyMLaaS server, e.g. http://host:8000.")],
    token: Annotated[
        str, typer.Option(envvar="TINYMLAAS_BRIDGE_TOKEN", help="The bridge's token.")
    ],
    name: Annotated[str, typer.Option(help="A name for this bridge.")] = "",
    virtual_devices: Annotated[
        int, typer.Option(min=0, max=32, help="Simulated boards to add (TFLite-Micro).")
    ] = 0,
    virtual_camera: Annotated[
        Path | None,
        typer.Option(help="Folder tree or zip of images the virtual boards' cameras see."),
    ] = None,
    interval: Annotated[
        float, typer.Option(help="Seconds between a virtual board's predictions.")
    ] = 0.5,
) -> None:
    """Connect out to the server, report plugged-in boards, install models, forward predictions."""
    import platform

    from tinymlaas.devices.bridge.client import Bridge
    from tinymlaas.devices.bridge.virtual import VirtualDevice, load_camera

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    devices: list[VirtualDevice] = []
    if virtual_devices:
        if virtual_camera is None:
            console.print("[red]Error:[/red] --virtual-devices needs --virtual-camera PATH")
            raise typer.Exit(2)
        try:
            camera = load_camera(virtual_camera)
        except (OSError, ValueError) as exc:
            console.print(f"[red]Error:[/red] {exc}")
            raise typer.Exit(2) from exc
        for index in range(virtual_devices):
            device = VirtualDevice(index, camera, interval_seconds=interval)
            device.start()
            devices.append(device)
            console.print(f"virtual device {device.serial_number} on {device.port}")
    client = Bridge(server, token, name or platform.node(), devices)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, client.stop)
        await client.run_forever()

    console.print(f"bridge '{client.name}' connecting to {client.url}")
    try:
        asyncio.run(main())
    finally:
        client.stop()
        for device in devices:
            device.stop()
