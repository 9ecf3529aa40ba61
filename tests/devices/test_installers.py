"""Installers: virtual failures, and arduino-cli's command lines through a fake arduino-cli.

No real arduino-cli or Arduino core is installable here, so flashing a real board is not
tested; a fake executable records its arguments and plays compile/upload outcomes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devices.conftest import MANIFEST, NANO, FakeCli, library_zip, process_running
from tinymlaas.devices.bridge.arduino_cli import (
    ArduinoCliInstaller,
    installed_cores,
    unpack_library,
)
from tinymlaas.devices.bridge.cancellation import Cancellation
from tinymlaas.devices.bridge.install import (
    BOARD_UNTOUCHED,
    BOARD_UPLOAD_INTERRUPTED,
    InstallRequest,
    InstallResult,
)
from tinymlaas.devices.bridge.installers import VirtualInstaller, installer_for
from tinymlaas.devices.bridge.transports import SerialTransport, handshake
from tinymlaas.devices.bridge.virtual import VirtualDevice
from tinymlaas.hardware.boards import BOARDS, Board

from support.factories import pattern_image
from support.waiting import wait_for


@pytest.fixture
def no_arduino_cli_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture
def virtual_device() -> Iterator[VirtualDevice]:
    device = VirtualDevice(7, [("dark/0.png", pattern_image(0, seed=1))], 0.01)
    device.start()
    yield device
    device.stop()


def request(
    port: str = "/dev/ttyACM0", board: Board = NANO, files: dict[str, bytes] | None = None
) -> InstallRequest:
    manifest = json.dumps(MANIFEST).encode()
    if files is None:
        files = {
            "model.tflite": b"not a model",
            "manifest.json": manifest,
            "arduino_library.zip": library_zip(board),
        }
    return InstallRequest(port, board, files, hashlib.sha256(manifest).hexdigest())


def install(
    installer: VirtualInstaller | ArduinoCliInstaller,
    job: InstallRequest,
    cancellation: Cancellation | None = None,
) -> InstallResult:
    """Run an install; check the streamed log is exactly the result's output."""
    logged: list[str] = []
    result = installer.install(job, logged.append, cancellation or Cancellation())
    assert result.output.splitlines() == logged
    return result


# --- virtual ---------------------------------------------------------------------------------


def test_virtual_install_on_an_unknown_port_fails_naming_it(
    virtual_device: VirtualDevice,
) -> None:
    result = install(
        VirtualInstaller({virtual_device.port: virtual_device}), request("/dev/pts/999")
    )
    assert not result.ok
    assert result.output == "no virtual device on port /dev/pts/999"


def test_virtual_install_of_an_invalid_model_reports_the_runtime_error(
    virtual_device: VirtualDevice,
) -> None:
    installer = VirtualInstaller({virtual_device.port: virtual_device})
    result = install(installer, request(virtual_device.port, BOARDS["virtual"]))
    assert not result.ok
    assert result.output.splitlines()[-1] == (
        "install failed: TFLite-Micro cannot load the model: "
        "not a TFLite model: the flatbuffer identifier 'TFL3' is missing"
    )
    with SerialTransport(virtual_device.port) as transport:
        hello = handshake(transport, timeout=2.0)
    assert hello is not None
    assert hello.model_id == "none"


def test_virtual_install_log_says_which_file_its_hash_and_size_describe(
    virtual_device: VirtualDevice,
) -> None:
    job = request(virtual_device.port, BOARDS["virtual"])
    model = job.files["model.tflite"]
    result = install(VirtualInstaller({virtual_device.port: virtual_device}), job)
    assert result.output.splitlines()[0] == (
        f"loading model.tflite ({len(model):,} B, sha256 {hashlib.sha256(model).hexdigest()})"
        f" into TFLite-Micro on virtual device {virtual_device.serial_number}"
        f" ({virtual_device.port}); model id {job.model_id} (the sha256 of manifest.json)"
    )
    assert job.model_id == hashlib.sha256(job.files["manifest.json"]).hexdigest()


def test_virtual_install_refuses_a_manifest_that_is_not_the_models(
    virtual_device: VirtualDevice,
) -> None:
    job = request(virtual_device.port, BOARDS["virtual"])
    job = InstallRequest(job.port, job.board, job.files, "0" * 64)
    result = install(VirtualInstaller({virtual_device.port: virtual_device}), job)
    assert not result.ok
    assert "does not belong to model " + "0" * 64 in result.output


def test_virtual_install_names_missing_files(virtual_device: VirtualDevice) -> None:
    job = request(virtual_device.port, BOARDS["virtual"], {"arduino_library.zip": b""})
    result = install(VirtualInstaller({virtual_device.port: virtual_device}), job)
    assert not result.ok
    assert result.output == "the compiled model lacks model.tflite, manifest.json"


def test_a_cancelled_virtual_install_leaves_the_device_as_it_was(
    virtual_device: VirtualDevice,
) -> None:
    cancellation = Cancellation()
    cancellation.cancel()
    job = request(virtual_device.port, BOARDS["virtual"])
    result = install(VirtualInstaller({virtual_device.port: virtual_device}), job, cancellation)
    state = "virtual device TMLVIRT-7 was not touched: it still runs no model"
    assert (result.ok, result.cancelled, result.device_state) == (False, True, state)
    assert result.output == f"install cancelled: {state}"
    with SerialTransport(virtual_device.port) as transport:
        hello = handshake(transport, timeout=2.0)
    assert hello is not None
    assert hello.model_id == "none"


def test_installer_for_picks_virtual_by_port_and_arduino_cli_otherwise(
    virtual_device: VirtualDevice,
) -> None:
    devices = {virtual_device.port: virtual_device}
    assert isinstance(
        installer_for(BOARDS["virtual"], devices, virtual_device.port), VirtualInstaller
    )
    assert isinstance(installer_for(NANO, devices, "/dev/ttyACM0"), ArduinoCliInstaller)
    assert isinstance(
        installer_for(BOARDS["virtual"], devices, "/dev/ttyACM0"), ArduinoCliInstaller
    )


# --- arduino-cli: availability -------------------------------------------------------------


@pytest.mark.usefixtures("no_arduino_cli_on_path")
def test_without_arduino_cli_the_install_fails_saying_so() -> None:
    installer = ArduinoCliInstaller()
    expected = (
        "arduino-cli is not installed on this bridge machine "
        "(https://arduino.github.io/arduino-cli/): cannot flash Arduino Nano 33 BLE (Sense)"
    )
    assert installer.available(NANO) == (False, expected)
    result = install(installer, request())
    assert (result.ok, result.output) == (False, expected)


def test_an_explicit_arduino_cli_path_that_does_not_exist_is_not_installed(tmp_path: Path) -> None:
    ready, message = ArduinoCliInstaller(str(tmp_path / "arduino-cli")).available(NANO)
    assert not ready
    assert message.startswith("arduino-cli is not installed on this bridge machine")


def test_a_board_without_fqbn_cannot_be_flashed_with_arduino_cli(fake_cli: FakeCli) -> None:
    result = install(ArduinoCliInstaller(str(fake_cli.path)), request(board=BOARDS["virtual"]))
    assert not result.ok
    assert result.output == (
        "TinyMLaaS virtual device (TFLite-Micro on the bridge's host) cannot be flashed with "
        "arduino-cli: it has no FQBN"
    )
    assert fake_cli.calls() == []


@pytest.mark.parametrize(
    "core_list",
    [None, [], {"platforms": [{"id": "arduino:avr", "installed_version": "1.8.6"}]}],
)
def test_a_missing_core_is_reported_with_the_command_that_installs_it(
    fake_cli: FakeCli, core_list: Any
) -> None:
    fake_cli.configure(core_list=core_list)
    installer = ArduinoCliInstaller(str(fake_cli.path))
    expected = (
        "the Arduino core 'arduino:mbed_nano' is not installed: "
        "run arduino-cli core install arduino:mbed_nano"
    )
    assert installer.available(NANO) == (False, expected)
    result = install(installer, request())
    assert (result.ok, result.output) == (False, expected)
    assert [call[0] for call in fake_cli.calls()] == ["core", "core"]


def test_installed_cores_reads_every_arduino_cli_json_shape() -> None:
    assert installed_cores(None) == set()
    assert installed_cores({"platforms": None}) == set()
    assert installed_cores([{"id": "arduino:mbed_nano", "installed": "4.0.2"}]) == {
        "arduino:mbed_nano"
    }
    assert installed_cores([{"ID": "esp32:esp32", "Installed": "2.0.11"}]) == {"esp32:esp32"}
    # `core list --all` also lists platforms that are not installed.
    listed = {
        "platforms": [
            {"id": "rp2040:rp2040", "installed_version": "3.9.0"},
            {"id": "arduino:avr", "installed_version": ""},
            {"id": "arduino:samd"},
        ]
    }
    assert installed_cores(listed) == {"rp2040:rp2040", "arduino:samd"}


# --- arduino-cli: compile and upload -------------------------------------------------------


def test_compile_then_upload_run_with_the_boards_fqbn_library_and_port(fake_cli: FakeCli) -> None:
    result = install(ArduinoCliInstaller(str(fake_cli.path)), request())
    assert result.ok, result.output

    core, compile_call, upload_call = fake_cli.calls()
    assert core == ["core", "list", "--format", "json"]
    library = Path(compile_call[compile_call.index("--library") + 1])
    build = compile_call[compile_call.index("--build-path") + 1]
    sketch = str(library / "examples" / "Nano33BLE_Camera")
    assert library.name == "Patterns_1"
    assert compile_call == [
        "compile",
        "--fqbn",
        "arduino:mbed_nano:nano33ble",
        "--library",
        str(library),
        "--build-path",
        build,
        sketch,
    ]
    assert upload_call == [
        "upload",
        "--fqbn",
        "arduino:mbed_nano:nano33ble",
        "-p",
        "/dev/ttyACM0",
        "--input-dir",
        build,
        sketch,
    ]
    lines = result.output.splitlines()
    assert "Using library name=Patterns_1" in lines
    assert lines.index(
        "Sketch uses 301234 bytes (28%) of program storage space. Maximum is 983040 bytes."
    ) < lines.index("Upload complete")
    assert lines[-1] == f"uploaded model {request().model_id} to {NANO.name} on /dev/ttyACM0"
    # The scratch build directory is gone once the install is over.
    assert not library.exists()


def test_a_failing_upload_reports_arduino_clis_own_output(fake_cli: FakeCli) -> None:
    fake_cli.configure(fail="upload")
    result = install(ArduinoCliInstaller(str(fake_cli.path)), request())
    assert not result.ok
    assert result.output.splitlines()[-3:] == [
        "Uploading to /dev/ttyACM0...",
        "No device found on /dev/ttyACM0",
        "arduino-cli upload failed with exit status 1",
    ]


def test_a_failing_compile_stops_before_upload(fake_cli: FakeCli) -> None:
    fake_cli.configure(fail="compile")
    result = install(ArduinoCliInstaller(str(fake_cli.path)), request())
    assert not result.ok
    assert result.output.splitlines()[-2:] == [
        "model_data.cc:3:1: error: expected ';' before 'alignas'",
        "arduino-cli compile failed with exit status 1",
    ]
    assert [call[0] for call in fake_cli.calls()] == ["core", "compile"]


def test_an_esp32_board_compiles_its_own_sketch(fake_cli: FakeCli) -> None:
    board = BOARDS["esp32-eye"]
    fake_cli.configure(core_list={"platforms": [{"id": "esp32:esp32", "installed_version": "3"}]})
    result = install(ArduinoCliInstaller(str(fake_cli.path)), request("/dev/ttyUSB0", board))
    assert result.ok, result.output
    compile_call = fake_cli.calls()[1]
    assert compile_call[2] == "esp32:esp32:esp32wrover:PartitionScheme=huge_app"
    assert compile_call[-1].endswith("/Patterns_1/examples/ESP_EYE_Camera")


# --- arduino-cli: cancelling ---------------------------------------------------------------


def install_in_background(
    fake_cli: FakeCli, cancellation: Cancellation
) -> tuple[threading.Thread, list[InstallResult]]:
    results: list[InstallResult] = []
    installer = ArduinoCliInstaller(str(fake_cli.path))
    thread = threading.Thread(
        target=lambda: results.append(install(installer, request(), cancellation)), daemon=True
    )
    thread.start()
    return thread, results


@pytest.mark.parametrize(
    ("step", "device_state"),
    [("compile", BOARD_UNTOUCHED), ("upload", BOARD_UPLOAD_INTERRUPTED)],
    ids=["compile", "upload"],
)
def test_cancelling_stops_the_running_step_with_its_children(
    fake_cli: FakeCli, step: str, device_state: str
) -> None:
    fake_cli.configure(hang=step)
    cancellation = Cancellation()
    thread, results = install_in_background(fake_cli, cancellation)
    hanging = wait_for(fake_cli.hanging, 30, f"arduino-cli hanging in {step}")
    cancelled_at = time.monotonic()
    cancellation.cancel()
    # The child holds the output pipe: only stopping the whole process group ends the install.
    thread.join(timeout=10)
    assert not thread.is_alive(), "the install went on after the cancel"
    assert time.monotonic() - cancelled_at < 5
    (result,) = results
    assert (result.ok, result.cancelled, result.device_state) == (False, True, device_state)
    assert result.output.splitlines()[-3:] == [
        f"hanging in {step}",
        f"arduino-cli {step} was stopped (exit status -15): the install was cancelled",
        f"install cancelled: {device_state}",
    ]
    wait_for(lambda: not process_running(hanging["cli"]), 5, "arduino-cli ending")
    wait_for(lambda: not process_running(hanging["child"]), 5, "arduino-cli's child ending")
    steps = ["core", "compile"] if step == "compile" else ["core", "compile", "upload"]
    assert [call[0] for call in fake_cli.calls()] == steps


def test_a_step_that_ignores_the_stop_request_is_killed(fake_cli: FakeCli) -> None:
    fake_cli.configure(hang="compile", ignore_term=True)
    cancellation = Cancellation()
    thread, results = install_in_background(fake_cli, cancellation)
    hanging = wait_for(fake_cli.hanging, 30, "arduino-cli hanging in compile")
    cancellation.cancel()
    thread.join(timeout=15)
    assert not thread.is_alive(), "the install went on after the cancel"
    (result,) = results
    assert result.cancelled
    assert "arduino-cli compile was stopped (exit status -9): the install was cancelled" in (
        result.output.splitlines()
    )
    wait_for(lambda: not process_running(hanging["child"]), 5, "arduino-cli's child ending")


def test_an_install_cancelled_before_it_starts_runs_nothing(fake_cli: FakeCli) -> None:
    cancellation = Cancellation()
    cancellation.cancel()
    result = install(ArduinoCliInstaller(str(fake_cli.path)), request(), cancellation)
    assert (result.ok, result.cancelled, result.device_state) == (False, True, BOARD_UNTOUCHED)
    assert result.output.splitlines()[-1] == f"install cancelled: {BOARD_UNTOUCHED}"
    assert [call[0] for call in fake_cli.calls()] == ["core"]


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["../../evil.txt", "/tmp/evil.txt", "lib/../../../evil.txt"])
def test_a_library_zip_with_an_escaping_path_is_refused(tmp_path: Path, name: str) -> None:
    data = zip_of({"lib/library.properties": b"name=lib\n", name: b"owned"})
    with pytest.raises(ValueError, match="unsafe path"):
        unpack_library(data, tmp_path / "a" / "b")
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "a").exists()


def test_an_unsafe_library_fails_the_install_before_compiling(fake_cli: FakeCli) -> None:
    files = dict(request().files)
    files["arduino_library.zip"] = zip_of({"../evil.ino": b"void setup() {}"})
    result = install(ArduinoCliInstaller(str(fake_cli.path)), request(files=files))
    assert not result.ok
    assert result.output.splitlines()[-1] == (
        "arduino_library.zip holds an unsafe path '../evil.ino'"
    )
    assert [call[0] for call in fake_cli.calls()] == ["core"]


def test_a_library_without_the_boards_sketch_is_refused(fake_cli: FakeCli) -> None:
    files = dict(request().files)
    files["arduino_library.zip"] = library_zip(BOARDS["pico"])  # holds Camera_Classifier
    result = install(ArduinoCliInstaller(str(fake_cli.path)), request(files=files))
    assert not result.ok
    assert "has no example sketch examples/Nano33BLE_Camera/Nano33BLE_Camera.ino" in (result.output)


def test_unpack_library_returns_the_library_folder(tmp_path: Path) -> None:
    folder = unpack_library(library_zip(), tmp_path)
    assert folder == tmp_path / "Patterns_1"
    assert (folder / "library.properties").read_text().startswith("name=Patterns_1\n")
    assert os.access(folder / "examples" / "Nano33BLE_Camera" / "Nano33BLE_Camera.ino", os.R_OK)
