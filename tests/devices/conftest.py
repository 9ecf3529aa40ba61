"""Shared by the device tests: a stand-in arduino-cli, the Arduino library it is given, and an
API client of a served app.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tinymlaas.compiling.arduino import LibrarySpec, build_library
from tinymlaas.hardware.boards import BOARDS, Board

from conftest import ADMIN_PASSWORD

NANO = BOARDS["nano33ble"]
MODEL_ID = "ab" * 32
MANIFEST = {
    "classes": ["dark", "bright"],
    "input": {"shape": [1, 24, 24, 1], "dtype": "int8", "scale": 1.0, "zero_point": -128},
    "preprocessing": {"color_mode": "grayscale"},
    "tensor_arena_bytes_measured": 30000,
}
MBED_NANO_INSTALLED = {"platforms": [{"id": "arduino:mbed_nano", "installed_version": "4.2.1"}]}
FAKE_CLI = """#!{python}
import json, os, signal, subprocess, sys, time
from pathlib import Path

root = Path({root!r})
args = sys.argv[1:]
with open(root / "calls.jsonl", "a") as calls:
    calls.write(json.dumps(args) + "\\n")
config = json.loads((root / "config.json").read_text())


def say(text, stream=sys.stdout):
    print(text, file=stream, flush=True)


def option(name):
    return Path(args[args.index(name) + 1])


# Hang like a stuck compiler or uploader, with a child that holds the output pipe too.
def hang_if_asked(step):
    if config.get("hang") != step:
        return
    code = "import time; time.sleep(600)"
    if config.get("ignore_term"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); " + code
    child = subprocess.Popen([sys.executable, "-c", code])
    with open(root / "hung.jsonl", "a") as hung:
        hung.write(json.dumps([os.getpid(), child.pid]) + "\\n")
    (root / "hanging.tmp").write_text(json.dumps({{"cli": os.getpid(), "child": child.pid}}))
    (root / "hanging.tmp").rename(root / "hanging.json")
    say("hanging in " + step)
    time.sleep(600)


if args[0] == "core":
    say(json.dumps(config["core_list"]))
elif args[0] == "compile":
    sketch = Path(args[-1])
    if not (sketch / (sketch.name + ".ino")).is_file():
        say("Error opening sketch: no .ino in " + str(sketch), sys.stderr)
        sys.exit(2)
    say("Using library " + (option("--library") / "library.properties").read_text().split()[0])
    hang_if_asked("compile")
    if config.get("fail") == "compile":
        say("model_data.cc:3:1: error: expected ';' before 'alignas'", sys.stderr)
        sys.exit(1)
    option("--build-path").mkdir()
    (option("--build-path") / (sketch.name + ".ino.bin")).write_bytes(b"firmware")
    say("Sketch uses 301234 bytes (28%) of program storage space. Maximum is 983040 bytes.")
elif args[0] == "upload":
    if not any(option("--input-dir").glob("*.bin")):
        say("Error: no compiled firmware in " + str(option("--input-dir")), sys.stderr)
        sys.exit(3)
    say("Uploading to " + args[args.index("-p") + 1] + "...")
    hang_if_asked("upload")
    if config.get("fail") == "upload":
        say("No device found on " + args[args.index("-p") + 1], sys.stderr)
        sys.exit(1)
    say("Upload complete")
"""


@dataclass
class FakeCli:
    """A fake arduino-cli executable and its call log.

    Configured to hang in a step, it starts a child that holds its output pipe too (as a
    compiler or uploader would), writes both process ids to hanging.json and sleeps.
    """

    path: Path
    root: Path

    def configure(
        self,
        core_list: Any = MBED_NANO_INSTALLED,
        fail: str | None = None,
        hang: str | None = None,
        ignore_term: bool = False,
    ) -> None:
        config = {"core_list": core_list, "fail": fail, "hang": hang, "ignore_term": ignore_term}
        (self.root / "config.json").write_text(json.dumps(config))
        (self.root / "hanging.json").unlink(missing_ok=True)

    def hanging(self) -> dict[str, int] | None:
        """The ids of the hanging arduino-cli and its child, once it hangs."""
        path = self.root / "hanging.json"
        return dict(json.loads(path.read_text())) if path.exists() else None

    def calls(self) -> list[list[str]]:
        log = self.root / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def fake_cli(tmp_path: Path) -> Iterator[FakeCli]:
    root = tmp_path / "fake"
    root.mkdir()
    path = root / "arduino-cli"
    path.write_text(FAKE_CLI.format(python=sys.executable, root=str(root)))
    path.chmod(0o755)
    fake = FakeCli(path, root)
    fake.configure()
    yield fake
    # A test that failed may have left a hanging fake behind.
    hung = root / "hung.jsonl"
    for line in hung.read_text().splitlines() if hung.exists() else []:
        for pid in json.loads(line):
            if process_running(pid):
                os.kill(pid, signal.SIGKILL)


def library_zip(board: Board = NANO) -> bytes:
    """The Arduino library a compile job would store (the model array is arbitrary bytes)."""
    spec = LibrarySpec(
        library_name="Patterns_1",
        board=board,
        labels=["dark", "bright"],
        input_width=24,
        input_height=24,
        channels=1,
        input_scale=1.0,
        input_zero_point=-128,
        output_scale=1 / 256,
        output_zero_point=-128,
        int8=True,
        arena_bytes=30000,
        model_id=MODEL_ID,
    )
    return build_library(bytes(range(256)) * 4, spec, json.dumps(MANIFEST))


def process_running(pid: int) -> bool:
    """Whether a process exists and is not a zombie (dead, waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def api(server_url: str) -> Iterator[httpx.Client]:
    token = httpx.post(
        f"{server_url}/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
    ).json()["access_token"]
    with httpx.Client(
        base_url=f"{server_url}/api/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as client:
        yield client
