"""API client commands (login, datasets …); they talk to the HTTP API only."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Placeholder until the client commands land."""
