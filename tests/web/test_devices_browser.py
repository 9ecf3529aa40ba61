"""The devices pages in Chromium against a live server, a real bridge and one virtual device.

Create a bridge in the page, start `tinymlaas bridge` with the command the page shows, watch
the device come online without reloading, install a compiled model, see live predictions,
kill the bridge and see the device go offline, then revoke the bridge.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Connection, create_engine, text

from tinymlaas.config import Settings

from conftest import ADMIN_PASSWORD
from support.factories import pattern_camera
from support.models import train_and_compile

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True),
]

CLASSES = ("dark", "bright", "left")


def shot(page: Any, name: str) -> None:
    from web.conftest import SCREENSHOTS

    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def compiled_id(server_url: str, local_worker: None) -> int:
    """A tiny model trained on the pattern classes (JSON API) and compiled for `virtual`."""
    token = httpx.post(
        f"{server_url}/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
    ).json()["access_token"]
    with httpx.Client(
        base_url=f"{server_url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as api:
        return train_and_compile(api)


@pytest.fixture
def camera(tmp_path: Path) -> Path:
    """What the virtual board's camera sees: new pattern images in class folders."""
    return pattern_camera(tmp_path / "camera", per_class=3, seed=70_000)


def corrupt_manifest(connection: Connection, compiled_id: int) -> None:
    """Point the compiled model's manifest.json at its .tflite bytes (not JSON)."""
    row = {"id": compiled_id}
    tflite = connection.execute(
        text("SELECT sha256 FROM compiled_files WHERE compiled_id = :id AND name = 'model.tflite'"),
        row,
    ).scalar_one()
    connection.execute(
        text(
            "UPDATE compiled_files SET sha256 = :sha256"
            " WHERE compiled_id = :id AND name = 'manifest.json'"
        ),
        {**row, "sha256": tflite},
    )


@pytest.fixture
def bridges() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Bridge processes the test starts; killed at its end whatever happened."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_bridge_device_install_and_live_predictions(
    server_url: str,
    settings: Settings,
    browser_context: Any,
    compiled_id: int,
    camera: Path,
    bridges: list[subprocess.Popen[bytes]],
) -> None:
    from playwright.sync_api import expect

    page = browser_context.new_page()
    page.goto(f"{server_url}/login?next=/devices")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{server_url}/devices")

    # A new user is told the next steps.
    empty = page.locator("[data-testid=devices-empty]")
    expect(empty).to_contain_text("Create a bridge")
    expect(empty).to_contain_text("Run the command")
    shot(page, "20-devices-empty")

    # Creating a bridge shows its token once, with the commands to paste.
    page.get_by_label("Bridge name").fill("test bench")
    page.get_by_role("button", name="Create bridge").click()
    expect(page.get_by_test_id("bridge-token")).to_have_value(re.compile(r"^tmlb_[\w-]{40,}$"))
    token = page.get_by_test_id("bridge-token").input_value()
    command = page.get_by_test_id("bridge-command").inner_text()
    assert command == f"tinymlaas bridge --server {server_url} --token {token} --name 'test bench'"
    virtual = page.get_by_test_id("bridge-virtual-command").inner_text()
    assert virtual.startswith(command + " --virtual-devices 1 --virtual-camera ")
    expect(page.locator("[data-testid=bridge-status]")).to_have_text(["offline"])
    expect(empty).to_contain_text("Run the")
    page.evaluate("window.notReloaded = true")

    # The bridge runs with exactly the page's command (a virtual board, our camera folder).
    arguments = shlex.split(virtual)
    assert arguments[0] == "tinymlaas"
    arguments[-1] = str(camera)
    env = {key: value for key, value in os.environ.items() if not key.startswith("TINYMLAAS_")}
    bridges.append(
        subprocess.Popen(
            [sys.executable, "-m", "tinymlaas", *arguments[1:], "--interval", "0.1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )

    # The device appears online without a reload; the token card is still there.
    row = page.locator("[data-testid=devices-table] tbody tr")
    expect(row.get_by_test_id("device-status")).to_have_text("online", timeout=30_000)
    expect(page.locator("[data-testid=bridge-status]")).to_have_text(["online"])
    expect(row).to_contain_text("TinyMLaaS virtual device")
    expect(row).to_contain_text("TMLVIRT-0")
    assert page.evaluate("window.notReloaded") is True
    expect(page.get_by_test_id("bridge-token")).to_have_value(token)
    shot(page, "21-devices")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "22-devices-phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    # Renaming the device from its row (the live refresh keeps the edit form open).
    row.locator("summary", has_text="Edit").click()
    row.get_by_label("Name").fill("bench camera")
    page.wait_for_timeout(3500)  # a live refresh passes while the user types
    row.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_have_text("Saved device 'bench camera'.")
    expect(row.get_by_role("link").first).to_have_text("bench camera")

    # The device page says the model fits before installing; the install job succeeds.
    row.get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(r"/devices/\d+$"))
    device_url = page.url
    expect(page.get_by_test_id("installed-model")).to_have_text("nothing yet")
    page.get_by_label("Compiled model").select_option(str(compiled_id))
    expect(page.get_by_test_id("install-fit")).to_contain_text("Fits this device")
    expect(page.get_by_test_id("install-fit")).to_contain_text("of 8.0 MiB")
    page.get_by_role("button", name=re.compile("^Install on")).click()
    expect(page.get_by_test_id("install-status")).to_have_text("installed", timeout=60_000)
    expect(page.get_by_test_id("installed-model")).to_contain_text("patterns · virtual int8")

    # Predictions arrive live: the big label, a bar per class, the chart and the history.
    label = page.get_by_test_id("latest-label")
    expect(label).to_have_text(re.compile(r"^(dark|bright|left)$"), timeout=30_000)
    expect(page.locator("[data-testid=score-bars] .score-row")).to_have_count(3)
    history = page.locator("[data-testid=history] tbody tr")
    page.wait_for_function(
        "document.querySelectorAll('[data-testid=history] tbody tr').length >= 12", timeout=30_000
    )
    shown: list[list[str]] = page.evaluate(
        "[...document.querySelectorAll('[data-testid=history] tbody tr')]"
        ".map((row) => [row.children[1].textContent, row.querySelector('.source').title])"
    )
    labels = {label for label, _ in shown}
    assert labels <= set(CLASSES)
    assert len(labels) >= 2, shown  # the camera shows every class in turn
    correct = sum(label == source.split("/")[0] for label, source in shown)
    assert correct / len(shown) >= 0.8, shown
    expect(history.first.get_by_role("link")).to_have_text("patterns · virtual int8")
    traces = page.evaluate(
        "document.getElementById('observation-chart').data.map((trace) => trace.name)"
    )
    assert sorted(traces) == sorted(CLASSES)
    shot(page, "23-device")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "24-device-phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    # A failing install shows the installer's own output.
    with create_engine(settings.database_url).begin() as connection:
        corrupt_manifest(connection, compiled_id)
    page.get_by_role("button", name=re.compile("^Install on")).click()
    failed = page.get_by_test_id("install-failed")
    expect(failed).to_contain_text("The install of patterns · virtual int8 failed.", timeout=60_000)
    expect(failed.locator("pre")).to_contain_text("manifest.json is not valid JSON")
    shot(page, "25-device-install-failed")

    # Killing the bridge: the device shows offline on its page, and installing is refused.
    bridges[0].send_signal(signal.SIGKILL)
    bridges[0].wait()
    expect(page.locator("#device-status")).to_have_text("offline", timeout=35_000)
    page.get_by_role("button", name=re.compile("^Install on")).click()
    expect(page.get_by_test_id("install-error")).to_contain_text("is offline")
    assert page.url == device_url

    # A model too big for the board: the page says so, and Install stays off with the reason.
    with create_engine(settings.database_url).begin() as connection:
        connection.execute(
            text("UPDATE compiled_models SET tflite_bytes = :size WHERE id = :id"),
            {"size": 64 * 1024 * 1024, "id": compiled_id},
        )
    page.reload()
    expect(page.get_by_test_id("install-fit")).to_contain_text("Does not fit this device")
    expect(page.get_by_test_id("install-fit")).to_contain_text("flash 64.0 MiB of 16.0 MiB")
    expect(page.get_by_role("button", name=re.compile("^Install on"))).to_be_disabled()
    refusal = page.get_by_test_id("install-refused")
    expect(refusal).to_contain_text(f"compiled model {compiled_id} does not fit")
    expect(refusal).to_contain_text("needs 67,108,864 B of flash, the board has 16,777,216 B")
    shot(page, "26-device-does-not-fit")

    # Revoking the bridge (after confirming) takes its devices off the list.
    page.get_by_role("link", name="Devices", exact=True).first.click()
    expect(page.locator("[data-testid=bridge-status]")).to_have_text(["offline"])
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_have_text(
        "Revoked bridge 'test bench'; its devices are gone from the list."
    )
    expect(page.get_by_test_id("devices-empty")).to_be_visible()
    expect(page.get_by_test_id("bridges-table")).to_have_count(0)
