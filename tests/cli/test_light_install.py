"""The command-line client and the bridge run without the server's packages (a lab laptop
installs `tinymlaas[bridge]`: no FastAPI, SQLAlchemy, Celery, plotly or TensorFlow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SERVER_ONLY = ["fastapi", "starlette", "sqlalchemy", "alembic", "celery", "plotly", "tensorflow"]

# Imports of the blocked packages fail as if they were not installed; each command's help runs
# through the typer app and the bridge's modules are imported.
PROGRAM = textwrap.dedent(
    """
    import json, sys

    BLOCKED = set(sys.argv[1].split(","))

    class NotInstalled:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())

    from typer.testing import CliRunner

    from tinymlaas.cli import app

    results = {}
    for command in (["--help"], ["bridge", "--help"], ["datasets", "list", "--help"]):
        result = CliRunner().invoke(app, command)
        results[" ".join(command)] = [result.exit_code, result.output, repr(result.exception)]
    import tinymlaas.devices.bridge.client
    import tinymlaas.devices.bridge.installers
    import tinymlaas.devices.bridge.transports
    import tinymlaas.devices.bridge.virtual

    loaded = sorted({name.partition(".")[0] for name in sys.modules} & BLOCKED)
    print(json.dumps({"results": results, "loaded": loaded}))
    """
)


def run_without(packages: list[str]) -> dict[str, object]:
    source = Path(__file__).resolve().parents[2] / "src"
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(source), os.environ.get("PYTHONPATH", "")])
    }
    completed = subprocess.run(
        [sys.executable, "-c", PROGRAM, ",".join(packages)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, object] = json.loads(completed.stdout.splitlines()[-1])
    return result


def test_client_commands_and_bridge_run_without_the_server_packages() -> None:
    outcome = run_without(SERVER_ONLY)

    results = outcome["results"]
    assert isinstance(results, dict)
    for command, (exit_code, output, exception) in results.items():
        assert (exit_code, exception) == (0, "None"), f"tinymlaas {command}: {output}{exception}"
        assert "Usage:" in output
    assert "--virtual-devices" in results["bridge --help"][1]
    assert outcome["loaded"] == []


def test_the_blocking_hook_does_stop_an_import_of_a_blocked_package() -> None:
    # The check above means something only if a blocked package really cannot be imported:
    # blocking typer itself must break the command line.
    source = Path(__file__).resolve().parents[2] / "src"
    env = os.environ | {"PYTHONPATH": str(source)}
    completed = subprocess.run(
        [sys.executable, "-c", PROGRAM, "typer"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert completed.returncode != 0
    assert "No module named 'typer'" in completed.stderr
