"""Put a compiled model onto a board: arduino-cli for real boards, a direct load for virtual ones.

The contract every installer keeps is in `install.py`; the arduino-cli one in `arduino_cli.py`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from tinymlaas.devices.bridge.arduino_cli import ArduinoCliInstaller
from tinymlaas.devices.bridge.c_runner import C_LIBRARY_FILE, manifest_engine
from tinymlaas.devices.bridge.cancellation import Cancellation
from tinymlaas.devices.bridge.install import (
    MANIFEST_FILE,
    MODEL_FILE,
    Installer,
    InstallOutput,
    InstallRequest,
    InstallResult,
)
from tinymlaas.devices.bridge.virtual import VirtualDevice
from tinymlaas.hardware.boards import Board


class VirtualInstaller:
    """Installs on the bridge's virtual devices, found by port."""

    def __init__(self, devices: Mapping[str, VirtualDevice]) -> None:
        self._devices = devices

    def install(
        self, request: InstallRequest, log: Callable[[str], None], cancellation: Cancellation
    ) -> InstallResult:
        """Load the model into the device (TFLite-Micro, or its generated C built with the
        host C compiler for `engine: "c"`) and restart it.

        Loading is one step that either replaces the running model or leaves it: a cancel
        honoured before it leaves the device as it was, one arriving later changes nothing.
        """
        output = InstallOutput(log)
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
        try:
            c_library = _c_library(request, manifest)
        except ValueError as error:
            return output.fail(str(error))
        if cancellation.requested:
            return output.cancelled(
                f"virtual device {device.serial_number} was not touched: it still runs "
                + (f"model {device.model_id}" if device.model_id != "none" else "no model")
            )
        output(
            f"loading {_loading(model, c_library)} virtual device {device.serial_number}"
            f" ({request.port}); model id {request.model_id} (the sha256 of {MANIFEST_FILE})"
        )
        try:
            device.install(model, manifest, request.model_id, c_library)
        except ValueError as error:
            return output.fail(f"install failed: {error}")
        output(f"installed; {device.serial_number} restarted and announces {request.model_id}")
        return output.result(True)


def _c_library(request: InstallRequest, manifest: dict[str, Any]) -> bytes | None:
    """c_library.zip for a manifest of engine "c", None for "tflm"; ValueError if it lacks."""
    try:
        engine = manifest_engine(manifest)
    except ValueError as error:
        raise ValueError(f"install failed: {error}") from error
    if engine == "tflm":
        return None
    if C_LIBRARY_FILE not in request.files:
        raise ValueError(f'the compiled model (engine "c") lacks {C_LIBRARY_FILE}')
    return request.files[C_LIBRARY_FILE]


def _loading(model: bytes, c_library: bytes | None) -> str:
    """What the install loads, with size and sha256, up to the device's name."""
    if c_library is None:
        digest = hashlib.sha256(model).hexdigest()
        return f"{MODEL_FILE} ({len(model):,} B, sha256 {digest}) into TFLite-Micro on"
    digest = hashlib.sha256(c_library).hexdigest()
    return (
        f"the generated C of {C_LIBRARY_FILE} ({len(c_library):,} B, sha256 {digest}),"
        " built with the host C compiler, onto"
    )


def installer_for(board: Board, virtual: Mapping[str, VirtualDevice], port: str) -> Installer:
    """Pick the installer for a board: virtual devices by port, everything else arduino-cli.

    A board without an FQBN on a real port gets ArduinoCliInstaller too, whose result then says
    that this board cannot be flashed with arduino-cli.
    """
    if port in virtual:
        return VirtualInstaller(virtual)
    return ArduinoCliInstaller()
