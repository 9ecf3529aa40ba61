"""tinymlaas devices test / tests / test-report / capture and compiled show, against a live
server, a real bridge and a virtual board."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Database
from support.cli import Cli, cells
from support.factories import pattern_camera

from cli.test_devices_commands import (  # isort: skip
    online_device,
    start_printed_bridge,
    train_and_compile,
)
from web.test_device_test_page import (  # isort: skip
    HUNG_BOARD_ANSWERS,
    STOPPED,
    compiled_tested_on_a_board,
)

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)
TESTED = 6  # images sent to the board
CAPTURED = 3
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def detail(output: str, name: str) -> str:
    """The value of a `name   value` line of a details block."""
    found = re.search(rf"^{re.escape(name)} {{2,}}(.+?) *$", output, re.M)
    assert found, f"no {name!r} line in:\n{output}"
    return found[1]


@pytest.fixture
def board(logged_in: Cli, tmp_path: Path, config_dir: Path) -> Iterator[str]:
    """The id of an online virtual board, its bridge started as the CLI prints it."""
    camera = pattern_camera(tmp_path / "camera", per_class=2, seed=60_000)
    bridge = start_printed_bridge(logged_in, config_dir, camera)
    try:
        device = online_device(logged_in)
        yield str(device["id"])
    finally:
        bridge.kill()
        bridge.wait()


@pytest.mark.slow
def test_a_model_is_tested_on_the_board_and_compiled_show_gives_its_figures(
    logged_in: Cli, local_worker: None, tmp_path: Path, board: str
) -> None:
    compiled_id = str(train_and_compile(logged_in, tmp_path))
    untested = logged_in.ok("compiled", "show", compiled_id)
    assert detail(untested, "On the device") == (
        "not tested on a device: install it, then tinymlaas devices test DEVICE_ID --compiled"
        f" {compiled_id}"
    )
    logged_in.ok("devices", "install", board, "--compiled", compiled_id)

    tested = logged_in.ok("devices", "test", board, "--limit", str(TESTED))

    (job_id, test_id) = re.findall(
        rf"^Testing on device {board}: {TESTED} images, job (\d+) \(device test (\d+)\)$",
        tested,
        re.M,
    )[0]
    assert re.search(rf"^Job {job_id} succeeded$", tested, re.M), tested
    assert f"Device test {test_id}: compiled model {compiled_id} on device {board}" in tested
    assert f"{TESTED} validation images" in tested
    # The virtual board computes what the host's int8 does, image for image.
    assert detail(tested, "device accuracy") == detail(tested, "host int8 accuracy")
    assert detail(tested, "host agreement") == "100.0% identical top-1"
    assert detail(tested, "identical outputs") == "100.0%"
    assert detail(tested, "answered") == f"{TESTED} (0 timeouts, 0 errors)"
    assert "disagrees" not in tested
    device_accuracy = detail(tested, "device accuracy")

    (row,) = cells(logged_in.ok("devices", "tests", "--compiled", compiled_id))
    assert row[:7] == [test_id, board, compiled_id, str(TESTED), "succeeded", device_accuracy,
                       "100.0%"]  # fmt: skip
    assert cells(logged_in.ok("devices", "tests", "--device", str(int(board) + 1))) == []
    report = logged_in.ok("devices", "test-report", test_id)
    assert detail(report, "host agreement") == "100.0% identical top-1"
    assert detail(report, "answered") == f"{TESTED} (0 timeouts, 0 errors)"

    shown = logged_in.ok("compiled", "show", compiled_id)
    assert detail(shown, "On the device") == (
        f"{device_accuracy} ({TESTED} images on device {board}) · 100.0% top-1 agreement with"
        f" int8 · tinymlaas devices test-report {test_id}"
    )


def test_bad_device_tests_are_refused_with_a_clear_error(
    logged_in: Cli, local_worker: None, board: str
) -> None:
    unknown = logged_in("devices", "test", "999999")
    assert unknown.exit_code == 1, unknown.output
    assert "Error: device 999999 not found" in unknown.stderr
    bad_split = logged_in("devices", "test", board, "--split", "training")
    assert bad_split.exit_code == 2, bad_split.output
    assert "'training' is not one of 'validation', 'test', 'all'" in " ".join(
        bad_split.stderr.replace("│", " ").split()
    )
    nothing_installed = logged_in("devices", "test", board)
    assert nothing_installed.exit_code == 1, nothing_installed.output
    assert f"Error: no model is installed on device {board}: install one" in " ".join(
        nothing_installed.stderr.split()
    )
    missing = logged_in("devices", "test-report", "999999")
    assert missing.exit_code == 1
    assert "Error: device test 999999 not found" in missing.stderr
    assert json.loads(logged_in.ok("jobs", "list", "--json")) == []


def test_capture_stores_png_frames_in_the_chosen_folder(
    logged_in: Cli, local_worker: None, tmp_path: Path, board: str
) -> None:
    logged_in.ok("datasets", "create", "captures")
    (dataset,) = json.loads(logged_in.ok("datasets", "list", "--json"))["items"]
    dataset_id = str(dataset["id"])

    captured = logged_in.ok(
        "devices", "capture", board, "--dataset", dataset_id, "--folder", "kitchen/dark",
        "--count", str(CAPTURED), "--interval-ms", "0",
    )  # fmt: skip

    assert re.search(
        rf"^Capturing {CAPTURED} frames from device {board} into dataset {dataset_id},"
        r" folder kitchen/dark: job (\d+) \(capture \d+\)$",
        captured,
        re.M,
    ), captured
    assert re.search(
        rf"^{CAPTURED} frames stored in dataset {dataset_id}, folder kitchen/dark \(images"
        r" \d+–\d+\)$",
        captured,
        re.M,
    ), captured
    archive = tmp_path / "captures.zip"
    logged_in.ok("datasets", "export", dataset_id, "--output", str(archive))
    with zipfile.ZipFile(archive) as exported:
        frames = [
            n for n in exported.namelist() if n.startswith("kitchen/dark/") and n != "kitchen/dark/"
        ]
        assert len(frames) == CAPTURED, exported.namelist()
        assert all(exported.read(name).startswith(PNG_SIGNATURE) for name in frames)

    unknown = logged_in(
        "devices", "capture", board, "--dataset", "999999", "--folder", "x", "--count", "1"
    )
    assert unknown.exit_code == 1, unknown.output
    assert "Error: dataset 999999 not found" in unknown.stderr
    no_frames = logged_in(
        "devices", "capture", board, "--dataset", dataset_id, "--folder", "x", "--count", "0"
    )
    assert no_frames.exit_code == 2, no_frames.output
    assert "Invalid value for '--count': Input should be greater than or equal to 1" in " ".join(
        no_frames.stderr.replace("│", " ").split()
    )
    # Neither refused capture queued a job.
    assert [job["kind"] for job in json.loads(logged_in.ok("jobs", "list", "--json"))] == [
        "capture"
    ]


def test_a_board_that_disagrees_or_stopped_answering_is_shown_so(
    logged_in: Cli, database: Database
) -> None:
    compiled_id = str(compiled_tested_on_a_board(database, HUNG_BOARD_ANSWERS))
    (row,) = cells(logged_in.ok("devices", "tests", "--compiled", compiled_id))
    test_id = row[0]

    shown = logged_in.ok("compiled", "show", compiled_id)
    report = logged_in.ok("devices", "test-report", test_id)

    assert detail(shown, "On the device") == (
        f"33.3% (3 images on device {row[1]}) · 33.3% top-1 agreement with int8"
        f" · tinymlaas devices test-report {test_id}"
    )
    assert detail(report, "answered") == "1 (1 timeouts, 0 errors, 1 not sent)"
    assert f"Stopped early: {STOPPED}" in report
    assert "2 images where the board disagrees with the host:" in report
