"""Flash a real board with arduino-cli: compile the library's example sketch, then upload it.

The bridge closes its own serial connection to the board first, since uploading needs the port.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from tinymlaas.compiling.arduino import sketch_name
from tinymlaas.devices.bridge.cancellation import Cancellation, kill_process
from tinymlaas.devices.bridge.install import (
    BOARD_UNTOUCHED,
    BOARD_UPLOAD_INTERRUPTED,
    LIBRARY_FILE,
    InstallOutput,
    InstallRequest,
    InstallResult,
)
from tinymlaas.hardware.boards import Board

ARDUINO_CLI_URL = "https://arduino.github.io/arduino-cli/"
CORE_LIST_TIMEOUT_SECONDS = 60.0
# Compiling TFLite-Micro from scratch takes minutes on a small machine; a hang must still end.
COMPILE_TIMEOUT_SECONDS = 1800.0
UPLOAD_TIMEOUT_SECONDS = 300.0
# Far above any library a board can hold (a 16 MiB model as C source is ~100 MiB), to stop
# a zip bomb from filling the bridge machine's disk.
MAX_LIBRARY_UNPACKED_BYTES = 256 * 2**20


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
        output = InstallOutput(log)
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
    command: list[str], output: InstallOutput, timeout: float, cancellation: Cancellation
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
