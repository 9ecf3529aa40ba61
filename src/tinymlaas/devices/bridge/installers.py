"""Put a compiled model onto a board: arduino-cli for real boards, a direct load for virtual ones.

Every installer returns the real output of what it ran and fails with it; nothing here reports
success it has not seen. The bridge should close its own serial connection to a board before
installing on it, since uploading needs the port. An install can be cancelled from another
thread (`Cancellation`): the command it runs is stopped, and the result says so and what the
board holds now; an install that finished before the cancel took effect reports its real result.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal, Protocol

from tinymlaas.compiling.arduino import sketch_name
from tinymlaas.devices.bridge.cancellation import Cancellation, kill_process
from tinymlaas.devices.bridge.virtual import VirtualDevice
from tinymlaas.hardware.boards import Board

MODEL_FILE = "model.tflite"
MANIFEST_FILE = "manifest.json"
LIBRARY_FILE = "arduino_library.zip"
ARDUINO_CLI_URL = "https://arduino.github.io/arduino-cli/"
CORE_LIST_TIMEOUT_SECONDS = 60.0
# Compiling TFLite-Micro from scratch takes minutes on a small machine; a hang must still end.
COMPILE_TIMEOUT_SECONDS = 1800.0
UPLOAD_TIMEOUT_SECONDS = 300.0
# Far above any library a board can hold (a 16 MiB model as C source is ~100 MiB), to stop
# a zip bomb from filling the bridge machine's disk.
MAX_LIBRARY_UNPACKED_BYTES = 256 * 2**20
# What a board holds after a cancelled install, by how far the install had got.
BOARD_UNTOUCHED = (
    "the board was not touched: it still runs its previous firmware (its previous model, if any)"
)
BOARD_UPLOAD_INTERRUPTED = (
    "the upload was interrupted: the board may still run its previous firmware, or hold a"
    " partly written one and run no model until a model is installed again"
)


@dataclass(frozen=True)
class InstallRequest:
    """Install the compiled model in `files` on the board at `port`."""

    port: str
    board: Board
    # "model.tflite", "manifest.json", "arduino_library.zip" as the compile job stored them.
    files: dict[str, bytes] = field(hash=False, repr=False)
    # sha256 of manifest.json: what the board announces in HELLO once the install worked.
    model_id: str


@dataclass(frozen=True)
class InstallResult:
    """Whether the install worked, and the installer's full output saying what happened.

    A cancelled install is not ok; `device_state` then says what the board holds now.
    """

    ok: bool
    output: str
    cancelled: bool = False
    device_state: str = ""


class Installer(Protocol):
    """One way of installing a model on a board."""

    def install(
        self, request: InstallRequest, log: Callable[[str], None], cancellation: Cancellation
    ) -> InstallResult:
        """Install, calling `log` with each output line as it comes; never raise for failures.

        Stops early, with a cancelled result, once `cancellation` is cancelled.
        """
        ...


class _Output:
    """Collects output lines for the result while streaming each one to the caller's log."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.lines: list[str] = []
        self._log = log

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        self._log(line)

    def result(self, ok: bool) -> InstallResult:
        return InstallResult(ok, "\n".join(self.lines))

    def fail(self, message: str) -> InstallResult:
        self(message)
        return self.result(False)

    def cancelled(self, device_state: str) -> InstallResult:
        self(f"install cancelled: {device_state}")
        return InstallResult(
            False, "\n".join(self.lines), cancelled=True, device_state=device_state
        )


class VirtualInstaller:
    """Installs on the bridge's virtual devices, found by port."""

    def __init__(self, devices: Mapping[str, VirtualDevice]) -> None:
        self._devices = devices

    def install(
        self, request: InstallRequest, log: Callable[[str], None], cancellation: Cancellation
    ) -> InstallResult:
        """Load the model into the device's TFLite-Micro interpreter and restart it.

        Loading is one step that either replaces the running model or leaves it: a cancel
        honoured before it leaves the device as it was, one arriving later changes nothing.
        """
        output = _Output(log)
        device = self._devices.get(request.port)
        if device is None:
            return output.fail(f"no virtual device on port {request.port}")
        missing = [name for name in (MODEL_FILE, MANIFEST_FILE) if name not in request.files]
        if missing:
            return output.fail(f"the compiled model lacks {', '.join(missing)}")
        manifest_bytes = request.files[MANIFEST_FILE]
        digest = hashlib.sha256(manifest_bytes).hexdigest()
        if digest != request.model_id:
            return output.fail(
                f"manifest.json (sha256 {digest}) does not belong to model {request.model_id}"
            )
        try:
            manifest: Any = json.loads(manifest_bytes)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            return output.fail(f"manifest.json is not valid JSON: {error}")
        if not isinstance(manifest, dict):
            return output.fail("manifest.json is not a JSON object")
        model = request.files[MODEL_FILE]
        if cancellation.requested:
            return output.cancelled(
                f"virtual device {device.serial_number} was not touched: it still runs "
                + (f"model {device.model_id}" if device.model_id != "none" else "no model")
            )
        output(
            f"loading model {request.model_id} ({len(model):,} B) into TFLite-Micro on virtual "
            f"device {device.serial_number} ({request.port})"
        )
        try:
            device.install(model, manifest, request.model_id)
        except ValueError as error:
            return output.fail(f"install failed: {error}")
        output(f"installed; {device.serial_number} restarted and announces {request.model_id}")
        return output.result(True)


def _core_id(fqbn: str) -> str:
    """Return the platform ("vendor:architecture") an FQBN belongs to."""
    return ":".join(fqbn.split(":")[:2])


def installed_cores(core_list: Any) -> set[str]:
    """Return the platform ids in `arduino-cli core list --format json` output (any version).

    arduino-cli 0.x prints a list of platforms ("id"/"ID", "installed"); 1.x prints
    {"platforms": [...]} with "installed_version", or null when none is installed.
    """
    platforms = core_list.get("platforms") if isinstance(core_list, dict) else core_list
    found = set()
    for platform in platforms if isinstance(platforms, list) else []:
        if not isinstance(platform, dict):
            continue
        platform_id = platform.get("id") or platform.get("ID")
        versions = [
            platform[key]
            for key in ("installed_version", "installed", "Installed")
            if key in platform
        ]
        if isinstance(platform_id, str) and (not versions or any(versions)):
            found.add(platform_id)
    return found


def _safe_parts(name: str) -> tuple[str, ...]:
    """Return a zip member's path parts; ValueError for absolute, drive or ".." paths."""
    parts = PurePosixPath(name).parts
    if (
        not parts
        or name.startswith("/")
        or "\\" in name
        or ":" in parts[0]
        or any(part in ("..", ".") for part in parts)
    ):
        raise ValueError(f"arduino_library.zip holds an unsafe path {name!r}")
    return parts


def unpack_library(data: bytes, target: Path) -> Path:
    """Extract the Arduino library zip under `target` and return the library's folder."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise ValueError(f"arduino_library.zip is not a zip: {error}") from error
    with archive:
        infos = archive.infolist()
        if sum(info.file_size for info in infos) > MAX_LIBRARY_UNPACKED_BYTES:
            raise ValueError(
                f"arduino_library.zip unpacks to more than {MAX_LIBRARY_UNPACKED_BYTES:,} B"
            )
        members = [(info, _safe_parts(info.filename)) for info in infos]
        roots = {parts[0] for _, parts in members}
        for info, parts in members:
            destination = target.joinpath(*parts)
            try:
                if info.is_dir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                # Plain byte copies: no symlinks or permission bits from the archive apply.
                destination.write_bytes(archive.read(info))
            except (OSError, zipfile.BadZipFile) as error:
                raise ValueError(f"cannot unpack {info.filename!r}: {error}") from error
    if len(roots) != 1 or not (target / next(iter(roots)) / "library.properties").is_file():
        raise ValueError("arduino_library.zip must hold one library folder with library.properties")
    return target / next(iter(roots))


class ArduinoCliInstaller:
    """Compiles the library's example sketch for the board's FQBN and uploads it."""

    def __init__(self, arduino_cli: str | None = None) -> None:
        # None: look arduino-cli up on PATH at each use, so installing it needs no bridge restart.
        self._arduino_cli = arduino_cli

    def executable(self) -> str | None:
        """Return the arduino-cli to run, or None if it is not installed."""
        if self._arduino_cli is not None:
            return shutil.which(self._arduino_cli)
        return shutil.which("arduino-cli")

    def available(self, board: Board) -> tuple[bool, str]:
        """Whether this machine can flash `board`, and a message saying why (not)."""
        if board.fqbn is None:
            return False, f"{board.name} cannot be flashed with arduino-cli: it has no FQBN"
        cli = self.executable()
        if cli is None:
            return False, (
                f"arduino-cli is not installed on this bridge machine ({ARDUINO_CLI_URL}): "
                f"cannot flash {board.name}"
            )
        core = _core_id(board.fqbn)
        command = [cli, "core", "list", "--format", "json"]
        try:
            completed = subprocess.run(
                command,
                capture_output=True,
                text=True,
                errors="replace",
                stdin=subprocess.DEVNULL,
                timeout=CORE_LIST_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return False, f"cannot run {shlex.join(command)}: {error}"
        if completed.returncode != 0:
            detail = (completed.stdout + completed.stderr).strip()
            return False, (
                f"{shlex.join(command)} failed with exit status {completed.returncode}: {detail}"
            )
        try:
            cores = installed_cores(json.loads(completed.stdout or "null"))
        except json.JSONDecodeError as error:
            return False, f"cannot read the output of {shlex.join(command)}: {error}"
        if core not in cores:
            hint = "" if core.startswith("arduino:") else " (after adding its board manager URL)"
            return False, (
                f"the Arduino core '{core}' is not installed: run arduino-cli core install "
                f"{core}{hint}"
            )
        return True, f"using {cli} with the Arduino core '{core}' for {board.name}"

    def install(
        self, request: InstallRequest, log: Callable[[str], None], cancellation: Cancellation
    ) -> InstallResult:
        """Compile the example sketch against the unpacked library, then upload it to the port."""
        output = _Output(log)
        board = request.board
        ready, message = self.available(board)
        cli = self.executable()
        if not ready or cli is None or board.fqbn is None:
            return output.fail(message)
        output(message)
        library = request.files.get(LIBRARY_FILE)
        if library is None:
            return output.fail(f"the compiled model lacks {LIBRARY_FILE}")
        with tempfile.TemporaryDirectory(prefix="tinymlaas-flash-") as scratch:
            try:
                library_dir = unpack_library(library, Path(scratch) / "library")
            except ValueError as error:
                return output.fail(str(error))
            sketch = sketch_name(board)
            sketch_dir = library_dir / "examples" / sketch
            if not (sketch_dir / f"{sketch}.ino").is_file():
                return output.fail(
                    f"arduino_library.zip has no example sketch examples/{sketch}/{sketch}.ino "
                    f"for {board.name}"
                )
            # An explicit build path lets upload find exactly what compile produced.
            build_dir = Path(scratch) / "build"
            common = ["--fqbn", board.fqbn]
            steps = [
                (
                    [cli, "compile", *common, "--library", str(library_dir)]
                    + ["--build-path", str(build_dir), str(sketch_dir)],
                    COMPILE_TIMEOUT_SECONDS,
                    BOARD_UNTOUCHED,
                ),
                (
                    [cli, "upload", *common, "-p", request.port]
                    + ["--input-dir", str(build_dir), str(sketch_dir)],
                    UPLOAD_TIMEOUT_SECONDS,
                    BOARD_UPLOAD_INTERRUPTED,
                ),
            ]
            # Each step: (command, timeout, what the board holds if the step is stopped).
            for command, timeout, state_if_stopped in steps:
                if cancellation.requested:
                    return output.cancelled(BOARD_UNTOUCHED)
                outcome = _run(command, output, timeout, cancellation)
                if outcome == "cancelled":
                    return output.cancelled(state_if_stopped)
                if outcome == "failed":
                    return output.result(False)
        output(f"uploaded model {request.model_id} to {board.name} on {request.port}")
        return output.result(True)


def _run(
    command: list[str], output: _Output, timeout: float, cancellation: Cancellation
) -> Literal["done", "failed", "cancelled"]:
    """Run a command, streaming its merged stdout/stderr lines, until it exits or is stopped.

    "done" when it exited with 0 (even if a cancel came too late to stop it).
    """
    step = f"arduino-cli {command[1]}"
    output("$ " + shlex.join(command))
    try:
        # Its own session, so that stopping it reaches the compilers and uploaders it starts.
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=os.name == "posix",
        )
    except OSError as error:
        output(f"cannot run {step}: {error}")
        return "failed"
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        kill_process(process)

    # Reading the pipe blocks, so a hung compiler or uploader is ended from a timer thread.
    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        with cancellation.running(process):
            assert process.stdout is not None  # stdout=PIPE
            with process.stdout:
                for line in process.stdout:
                    output(line.rstrip("\r\n"))
            status = process.wait()
    finally:
        timer.cancel()
    if status == 0:
        return "done"
    if cancellation.requested:
        output(f"{step} was stopped (exit status {status}): the install was cancelled")
        return "cancelled"
    if timed_out.is_set():
        output(f"{step} did not finish within {timeout:.0f} s and was stopped")
        return "failed"
    output(f"{step} failed with exit status {status}")
    return "failed"


def installer_for(board: Board, virtual: Mapping[str, VirtualDevice], port: str) -> Installer:
    """Pick the installer for a board: virtual devices by port, everything else arduino-cli.

    A board without an FQBN on a real port gets ArduinoCliInstaller too, whose result then says
    that this board cannot be flashed with arduino-cli.
    """
    if port in virtual:
        return VirtualInstaller(virtual)
    return ArduinoCliInstaller()
