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
        c_library = request.files.get(C_LIBRARY_FILE)
        try:
            engine = manifest_engine(manifest)
        except ValueError as error:
            return output.fail(f"install failed: {error}")
        if engine == "c" and c_library is None:
            return output.fail(f'the compiled model (engine "c") lacks {C_LIBRARY_FILE}')
        if cancellation.requested:
            return output.cancelled(
                f"virtual device {device.serial_number} was not touched: it still runs "
                + (f"model {device.model_id}" if device.model_id != "none" else "no model")
            )
        loaded = f"{MODEL_FILE} ({len(model):,} B, sha256 {hashlib.sha256(model).hexdigest()})"
        if engine == "c" and c_library is not None:
            loaded = (
                f"the generated C of {C_LIBRARY_FILE} ({len(c_library):,} B, sha256"
                f" {hashlib.sha256(c_library).hexdigest()}), built with the host C compiler,"
            )
        output(
            f"loading {loaded} {'into TFLite-Micro on' if engine == 'tflm' else 'onto'} virtual device"
            f" {device.serial_number} ({request.port}); model id {request.model_id}"
            f" (the sha256 of {MANIFEST_FILE})"
        )
        try:
            device.install(model, manifest, request.model_id, c_library if engine == "c" else None)
        except ValueError as error:
            return output.fail(f"install failed: {error}")
        output(f"installed; {device.serial_number} restarted and announces {request.model_id}")
        return output.result(True)


def installer_for(board: Board, virtual: Mapping[str, VirtualDevice], port: str) -> Installer:
    """Pick the installer for a board: virtual devices by port, everything else arduino-cli.

    A board without an FQBN on a real port gets ArduinoCliInstaller too, whose result then says
    that this board cannot be flashed with arduino-cli.
    """
    if port in virtual:
        return VirtualInstaller(virtual)
    return ArduinoCliInstaller()
