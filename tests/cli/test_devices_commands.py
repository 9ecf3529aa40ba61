"""tinymlaas bridges / devices … against a live server, a real bridge and a virtual device."""

from __future__ import annotations

import functools
import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import pytest
from sqlalchemy import select

from tinymlaas.cli import ml_client
from tinymlaas.db.session import transaction
from tinymlaas.models import (
    Observation,
    User,
)

from conftest import Database
from support.cli import Cli, cells
from support.factories import compiled_row as make_compiled_row
from support.factories import device_row as make_device_row
from support.factories import pattern_camera, pattern_dataset_zip
from support.waiting import wait_for

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)

CLASSES = ("bright", "dark", "left")
PREDICTION_LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  (?P<label>\w+)  (?P<score>[\d.]+)%  [\d.]+ ms  "
    r"(?P<source>\S+)"
)
T = TypeVar("T")


def admin_id(database: Database) -> int:
    with database.factory() as session:
        return session.scalars(select(User.id).where(User.username == "admin")).one()


def compiled_row(database: Database, **overrides: Any) -> int:
    """A finished compiled model of the admin, with stand-in files."""
    return make_compiled_row(database, admin_id(database), CLASSES, **overrides)


def device_row(database: Database) -> int:
    """A virtual-board device of the admin's, reported by an (offline) bridge."""
    return make_device_row(database, admin_id(database))


def test_bridges_are_created_listed_and_revoked(logged_in: Cli) -> None:
    created = logged_in.ok("bridges", "create", "lab bench")
    (token,) = re.findall(r"^Token: (\S+)$", created, re.M)

    assert "shown only this once and cannot be shown again" in created
    assert f"--token {token} --name 'lab bench'" in created
    listed = logged_in.ok("bridges", "list")
    (row,) = cells(listed)
    assert row[1:4] == ["lab bench", "offline", "-"]
    assert token not in listed
    assert "No devices yet" in logged_in.ok("devices", "list")

    logged_in.ok("bridges", "delete", row[0], "--yes")

    assert json.loads(logged_in.ok("bridges", "list", "--json")) == []
    missing = logged_in("bridges", "delete", row[0], "--yes")
    assert missing.exit_code == 1
    assert f"Error: bridge {row[0]} not found" in missing.stderr


def test_a_model_that_does_not_fit_is_refused_with_the_numbers(
    logged_in: Cli, database: Database
) -> None:
    device_id = device_row(database)
    compiled_id = compiled_row(database, tflite_bytes=3_000_000, arena_bytes=400_000)
    logged_in.ok("devices", "set-board", str(device_id), "nano33ble")

    result = logged_in("devices", "install", str(device_id), "--compiled", str(compiled_id))

    assert result.exit_code == 1, result.output
    assert f"Error: compiled model {compiled_id} does not fit Arduino Nano 33 BLE" in result.stderr
    assert re.search(r"needs [\d,]+ B of RAM, the board has 262,144 B", result.stderr)
    assert re.search(
        r"^RAM +[\d.]+ KiB of 256\.0 KiB \(\d+%\) ✗  tensor arena \(with margin\) [\d.]+ KiB"
        r" \+ input",
        result.stderr,
        re.M,
    )
    assert re.search(
        r"^Flash +[\d.]+ MiB of 1\.0 MiB \(\d+%\) ✗  model 2\.9 MiB \+ runtime code",
        result.stderr,
        re.M,
    )
    shown = logged_in.ok("devices", "show", str(device_id))
    assert re.search(r"^Board +nano33ble *$", shown, re.M)
    assert re.search(r"^Installed +- *$", shown, re.M)
    assert json.loads(logged_in.ok("jobs", "list", "--json")) == []


def test_a_model_for_another_board_is_refused_naming_both_until_forced(
    logged_in: Cli, database: Database
) -> None:
    device_id = device_row(database)
    compiled_id = compiled_row(database, board="esp32-s3-eye")
    logged_in.ok("devices", "set-board", str(device_id), "nano33ble")

    refused = logged_in("devices", "install", str(device_id), "--compiled", str(compiled_id))
    forced = logged_in(
        "devices", "install", str(device_id), "--compiled", str(compiled_id), "--force"
    )

    assert refused.exit_code == 1, refused.output
    stderr = " ".join(refused.stderr.split())
    assert f"Error: compiled model {compiled_id} was compiled for Espressif ESP32-S3-EYE" in stderr
    assert f"(esp32-s3-eye), but device {device_id}'s board is Arduino Nano 33 BLE" in stderr
    assert (
        f"Install it anyway with: tinymlaas devices install {device_id} --compiled"
        f" {compiled_id} --force"
    ) in stderr
    # Forced, the board check is passed: what stops it now is the offline device.
    assert forced.exit_code == 1, forced.output
    assert f"Error: device {device_id} is offline" in forced.stderr
    assert json.loads(logged_in.ok("jobs", "list", "--json")) == []


def test_renaming_a_device_and_an_unknown_board(logged_in: Cli, database: Database) -> None:
    device_id = str(device_row(database))

    logged_in.ok("devices", "rename", device_id, "kitchen camera")
    unknown = logged_in("devices", "set-board", device_id, "esp99")

    assert unknown.exit_code == 1
    assert "esp99" in unknown.stderr
    (row,) = cells(logged_in.ok("devices", "list"))
    assert row[:5] == [device_id, "kitchen camera", "virtual", "/dev/ttyACM0", "offline"]
    assert row[5] == "-"
    shown = logged_in.ok("devices", "show", device_id)
    assert re.search(r"^Serial +SN-1 *$", shown, re.M), shown


def add_observations(database: Database, device_id: int, labels: list[str]) -> list[int]:
    """Predictions of the device, as its bridge stores them; their ids."""
    with transaction(database.factory) as session:
        rows = [
            Observation(
                device_id=device_id,
                label=label,
                scores={name: 0.9 if name == label else 0.05 for name in CLASSES},
                latency_ms=12.5,
                source=f"{label}/0.png",
            )
            for label in labels
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


class _EventsThen(httpx.SyncByteStream):
    """Passes on `events` whole Server-Sent Events, then raises `then` (a drop or a Ctrl-C)."""

    def __init__(self, original: httpx.SyncByteStream, events: int, then: BaseException) -> None:
        self._original, self._events, self._then = original, events, then

    def __iter__(self) -> Iterator[bytes]:
        received = b""
        for chunk in self._original:
            received += chunk
            ends = [found.end() for found in re.finditer(rb"\r?\n\r?\n", received)]
            if len(ends) >= self._events:
                yield received[: ends[self._events - 1]] + b"id: 9"  # and a cut-off event
                raise self._then
        yield received

    def close(self) -> None:
        self._original.close()


class _DropThenInterrupt(httpx.HTTPTransport):
    """Stores three predictions once the first observe stream opens, cuts that stream after
    one event, and interrupts the second (like Ctrl-C) after the other two."""

    def __init__(self, database: Database, device_id: int) -> None:
        super().__init__()
        self.database, self.device_id = database, device_id
        self.observe_requests: list[httpx.Request] = []
        self.stored: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/observe"):
            return super().handle_request(request)
        self.observe_requests.append(request)
        response = super().handle_request(request)
        if len(self.observe_requests) == 1:
            self.stored = add_observations(
                self.database, self.device_id, ["dark", "bright", "left"]
            )
            events, then = 1, httpx.ReadError("connection reset (cut by the test)")
        else:
            events, then = 2, KeyboardInterrupt()
        assert isinstance(response.stream, httpx.SyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_EventsThen(response.stream, events, then),
            request=request,
        )


def test_observe_resumes_after_a_drop_and_ctrl_c_exits_130(
    logged_in: Cli, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    device_id = device_row(database)
    (earlier,) = add_observations(database, device_id, ["left"])
    transport = _DropThenInterrupt(database, device_id)
    monkeypatch.setattr(
        ml_client, "MlClient", functools.partial(ml_client.MlClient, transport=transport)
    )

    result = logged_in("devices", "observe", str(device_id))

    assert result.exit_code == 130, result.output
    first, resumed = transport.observe_requests
    assert first.headers["last-event-id"] == str(earlier)  # only predictions from now on
    assert resumed.headers["last-event-id"] == str(transport.stored[0])
    lines = result.stdout.splitlines()
    assert [PREDICTION_LINE.fullmatch(line) is not None for line in lines] == [True] * 3, lines
    assert [line.split("  ")[1:] for line in lines] == [
        [label, "90.0%", "12.5 ms", f"{label}/0.png"] for label in ("dark", "bright", "left")
    ]
    assert "Traceback" not in result.output


@pytest.fixture
def camera(tmp_path: Path) -> Path:
    """What the virtual board's camera sees: new images of each class, in class folders."""
    return pattern_camera(tmp_path / "camera", per_class=4, seed=50_000)


def train_and_compile(runner: Cli, tmp_path: Path) -> int:
    """A tiny model of the pattern classes, compiled for the virtual board: its compiled id."""
    archive = tmp_path / "patterns.zip"
    archive.write_bytes(pattern_dataset_zip(per_class=16))
    runner.ok("datasets", "import", str(archive), "--name", "patterns")
    (dataset,) = json.loads(runner.ok("datasets", "list", "--json"))["items"]
    runner.ok(
        "train",
        "--dataset", str(dataset["id"]),
        "--architecture", "cnn-small",
        "--alpha", "0.5",
        "--width", "16",
        "--height", "16",
        "--epochs", "8",
        "--batch-size", "8",
        "--learning-rate", "0.01",
        "--seed", "5",
    )  # fmt: skip
    (model,) = json.loads(runner.ok("models", "list", "--json"))
    runner.ok("compile", str(model["id"]), "--board", "virtual")
    (compiled,) = json.loads(runner.ok("compiled", "list", "--json"))
    return int(compiled["id"])


def read_lines(stream: IO[str], count: int, timeout: float) -> list[str]:
    """The first `count` lines of a subprocess's output, waiting at most `timeout` seconds."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    deadline = time.monotonic() + timeout
    read = []
    while len(read) < count:
        try:
            read.append(lines.get(timeout=max(0.0, deadline - time.monotonic())).rstrip("\n"))
        except queue.Empty:
            raise AssertionError(f"only {len(read)} lines within {timeout} s: {read}") from None
    return read


def subprocess_environment(config_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYMLAAS_")}
    return env | {"TINYMLAAS_CONFIG_DIR": str(config_dir), "COLUMNS": "200"}


def start_printed_bridge(
    logged_in: Cli, config_dir: Path, camera: Path, stderr: int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """A new bridge started from the command `bridges create` prints, with one virtual board
    watching `camera`."""
    created = logged_in.ok("bridges", "create", "test bench")
    (printed,) = [line.strip() for line in created.splitlines() if "tinymlaas bridge " in line]
    command = shlex.split(printed)
    assert command[:2] == ["tinymlaas", "bridge"]
    return subprocess.Popen(
        [sys.executable, "-m", "tinymlaas", *command[1:]]
        + ["--virtual-devices", "1", "--virtual-camera", str(camera), "--interval", "0.05"],
        env=subprocess_environment(config_dir),
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def online_device(logged_in: Cli) -> dict[str, Any]:
    """The one device `devices list` shows online, once it is."""
    (device,) = wait_for(
        lambda: [
            d
            for d in json.loads(logged_in.ok("devices", "list", "--json"))
            if d["status"] == "online"
        ],
        30,
        "the virtual device coming online",
    )
    found: dict[str, Any] = device
    return found


@pytest.mark.slow
def test_a_bridge_started_from_the_printed_command_installs_and_streams_predictions(
    logged_in: Cli,
    local_worker: None,
    database: Database,
    tmp_path: Path,
    camera: Path,
    config_dir: Path,
) -> None:
    compiled_id = train_and_compile(logged_in, tmp_path)
    bridge = start_printed_bridge(logged_in, config_dir, camera, stderr=subprocess.PIPE)
    observer: subprocess.Popen[str] | None = None
    try:
        device = online_device(logged_in)
        device_id = str(device["id"])
        (row,) = cells(logged_in.ok("devices", "list"))
        assert row[2:6] == ["virtual", device["port"], "online", "-"]
        shown = logged_in.ok("devices", "show", device_id)
        assert re.search(r"^Serial +TMLVIRT-0 *$", shown, re.M), shown
        (bridge_row,) = cells(logged_in.ok("bridges", "list"))
        assert bridge_row[1:3] == ["test bench", "online"]

        installed = logged_in.ok("devices", "install", device_id, "--compiled", str(compiled_id))

        assert re.search(r"^Job \d+ succeeded$", installed, re.M), installed
        assert f"Device {device_id} runs compiled model {compiled_id}" in installed
        (row,) = cells(logged_in.ok("devices", "list"))
        assert row[5] == str(compiled_id)

        observer = subprocess.Popen(
            [sys.executable, "-m", "tinymlaas", "devices", "observe", device_id],
            env=subprocess_environment(config_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert observer.stdout is not None
        lines = read_lines(observer.stdout, 4, timeout=30)
        observer.send_signal(signal.SIGINT)
        assert observer.wait(timeout=10) == 130
        assert "Traceback" not in (observer.stderr.read() if observer.stderr else "")
        for line in lines:
            found = PREDICTION_LINE.fullmatch(line)
            assert found, lines
            assert found["label"] in CLASSES
            assert 0 < float(found["score"]) <= 100
            assert found["source"].split("/")[0] in CLASSES

        stored = json.loads(logged_in.ok("devices", "observations", device_id, "--json"))
        ours = [o for o in stored if o["compiled_id"] == compiled_id]
        assert len(ours) >= 4
        assert {o["label"] for o in ours} <= set(CLASSES)
        latest = logged_in.ok("devices", "observations", device_id, "--limit", "3")
        assert re.search(rf"The latest 3 of \d+ predictions of device {device_id}", latest)
        assert [row[1] in CLASSES for row in cells(latest)] == [True, True, True]

        broken = logged_in(
            "devices", "install", device_id, "--compiled", str(compiled_row(database))
        )

        assert broken.exit_code == 1, broken.output
        assert re.search(r"^Job \d+ failed: ", broken.stderr, re.M), broken.output
        assert "manifest.json lacks the field 'input'" in broken.stderr  # the installer's words
        (row,) = cells(logged_in.ok("devices", "list"))
        assert row[5] == str(compiled_id)

        logged_in.ok("bridges", "delete", bridge_row[0], "--yes")

        assert json.loads(logged_in.ok("bridges", "list", "--json")) == []
        assert json.loads(logged_in.ok("devices", "list", "--json")) == []
        assert bridge.wait(timeout=30) == 2  # its token was revoked
    finally:
        for process in (observer, bridge):
            if process is not None and process.poll() is None:
                process.kill()
            if process is not None:
                process.wait()
