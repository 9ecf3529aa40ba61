"""What an install is: the request, the result, the Installer protocol and its output.

Every installer returns the real output of what it ran and fails with it; nothing reports
success it has not seen. An install can be cancelled from another thread (`Cancellation`): the
command it runs is stopped, and the result says so and what the board holds now; an install
that finished before the cancel took effect reports its real result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from tinymlaas.devices.bridge.cancellation import Cancellation
from tinymlaas.hardware.boards import Board

MODEL_FILE = "model.tflite"
MANIFEST_FILE = "manifest.json"
LIBRARY_FILE = "arduino_library.zip"
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
    # "model.tflite", "manifest.json", "arduino_library.zip" (and "c_library.zip" for engine
    # "c") as the compile job stored them.
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


class InstallOutput:
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
