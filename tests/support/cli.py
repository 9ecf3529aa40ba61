"""The `tinymlaas` command line run in-process, as a user at a terminal would run it."""

from __future__ import annotations

from click.testing import Result
from typer.testing import CliRunner

from tinymlaas.cli import app


class Cli:
    """Runs `tinymlaas …` in-process, with the server, token and configuration directory the
    environment gives it (see the `runner` and `logged_in` fixtures of tests/cli)."""

    def __init__(self) -> None:
        self._runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Result:
        """`tinymlaas *args`: its exit_code, output, stdout and stderr."""
        return self._runner.invoke(app, list(args), input=input)

    def ok(self, *args: str) -> str:
        """The output of `tinymlaas *args`, which must succeed."""
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result.output


def cells(output: str) -> list[list[str]]:
    """The rows of every Rich table in the output, as lists of stripped cells."""
    return [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in output.splitlines()
        if line.startswith("│")
    ]
