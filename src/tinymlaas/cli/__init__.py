"""The `tinymlaas` command: server-side commands and the HTTP API client commands."""

from __future__ import annotations

import typer

from tinymlaas.cli import (
    bridge_command,
    capture_commands,
    client_commands,
    compiling_commands,
    dataset_versions_commands,
    device_test_commands,
    devices_commands,
    import_commands,
    jobs_commands,
    review_commands,
    search_commands,
    server,
    training_commands,
    weights_commands,
)

app = typer.Typer(
    name="tinymlaas",
    help="TinyMLaaS: run the service, or use a running one from the shell.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
server.register(app)
client_commands.register(app)
training_commands.register(app)
weights_commands.register(app)
import_commands.register()
compiling_commands.register(app)
jobs_commands.register(app)
devices_commands.register(app)
device_test_commands.register()
capture_commands.register()
bridge_command.register(app)
dataset_versions_commands.register()
review_commands.register()
search_commands.register(app)


def main() -> None:
    app()
