"""The whole loop in Chromium against a live server: log in, import, relabel, train, compile."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ADMIN_PASSWORD
from support.factories import pattern_dataset_zip

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True),
]

TRAINING_SECONDS = 240


def shot(page: Any, name: str) -> None:
    from web.conftest import SCREENSHOTS

    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page: Any, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_the_whole_loop_in_a_browser(
    server_url: str, browser_context: Any, local_worker: None, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = browser_context.new_page()

    # Logging in: a wrong password says so; the right one lands on the (empty) datasets.
    log_in(page, server_url, "admin", "wrong-password")
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    shot(page, "01-login-error")
    log_in(page, server_url, "admin", ADMIN_PASSWORD)
    expect(page).to_have_url(f"{server_url}/datasets")
    expect(page.get_by_role("heading", name="No datasets yet")).to_be_visible()
    shot(page, "02-datasets-empty")

    # Importing a zip goes to the dataset with its thumbnails.
    archive = tmp_path / "patterns.zip"
    archive.write_bytes(pattern_dataset_zip(per_class=12))
    form = page.locator("#import-form")
    form.get_by_label("Name").fill("patterns")
    form.get_by_label("Zip file").set_input_files(str(archive))
    form.get_by_role("button", name="Import").click()
    expect(page).to_have_url(re.compile(r"/datasets/\d+$"))
    dataset_url = page.url
    expect(page.get_by_role("status")).to_have_text("Imported 36 images into 'patterns'.")
    thumbnails = page.locator("[data-testid=thumbnails] img")
    expect(thumbnails).to_have_count(36)
    page.wait_for_function(
        "[...document.querySelectorAll('[data-testid=thumbnails] img')]"
        ".every((img) => img.complete && img.naturalWidth > 0)"
    )
    count = page.locator("[data-folder=bright] [data-testid=folder-count]")
    expect(count).to_have_text("12")
    shot(page, "03-dataset")

    # Moving an image onto a taken name keeps both: the moved one gets a number.
    first_image = page.locator("[data-testid=thumbnails] input[type=checkbox]").first
    first_image.check()
    expect(page.locator("#selected-count")).to_have_text("1 selected")
    page.locator("#move-target").select_option("dark")
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.get_by_role("status")).to_have_text(
        "Moved 1 image to 'dark'. Renamed 1 to keep names unique: dark/000 (2).png."
    )
    expect(page.locator("[data-folder=dark] [data-testid=folder-count]")).to_have_text("13")
    expect(page.locator("[data-folder=bright] [data-testid=folder-count]")).to_have_text("11")
    page.locator("[data-folder=dark]").click()
    dark = page.locator("[data-testid=thumbnails] img")
    expect(dark).to_have_count(13)
    expect(dark.nth(0)).to_have_attribute("alt", "dark/000 (2).png")
    expect(dark.nth(1)).to_have_attribute("alt", "dark/000.png")

    # Each image opens full size, and can be renamed there.
    page.get_by_title("Open dark/000 (2).png").click()
    expect(page.get_by_role("heading", name="000 (2).png")).to_be_visible()
    page.wait_for_function("document.querySelector('[data-testid=full-image]').naturalWidth === 24")
    page.get_by_text("Rename '000 (2).png'").click()
    page.get_by_label("New name").fill("from-bright.png")
    page.get_by_role("button", name="Rename", exact=True).click()
    expect(page.get_by_role("status")).to_have_text(
        "Renamed 'dark/000 (2).png' to 'dark/from-bright.png'."
    )
    page.goto(dataset_url)

    # Moving to the top folder takes the label away.
    first_image.check()
    page.locator("#move-target").select_option("")
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Moved 1 image to the top folder.")
    expect(page.locator("[data-folder=bright] [data-testid=folder-count]")).to_have_text("10")
    expect(page.locator("[data-testid=thumbnails] img").first).to_have_attribute("alt", "001.png")

    # The phone layout of the same page.
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "04-dataset-phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    # The train form says before training whether the model fits the board.
    page.get_by_role("link", name="Train a model").first.click()
    page.get_by_label("Name").fill("tiny")
    page.get_by_label("Architecture").select_option("cnn-small")
    page.get_by_label("Width α").select_option("0.5")
    page.get_by_label("Input width").fill("16")
    page.get_by_label("Input height").fill("16")
    page.get_by_label("Epochs").fill("4")
    page.get_by_label("Batch size").fill("8")
    page.get_by_label("Learning rate").fill("0.01")
    estimate = page.locator("[data-testid=estimate]")
    expect(estimate).to_contain_text("Expected to fit on Arduino Nano 33 BLE")
    expect(estimate).to_contain_text("3 classes")
    shot(page, "05-train-form")
    page.get_by_role("button", name="Start training").click()

    # The model page follows the job live: progress to 100% and a curve point per epoch.
    expect(page).to_have_url(re.compile(r"/models/\d+$"))
    expect(page.locator("#progress-percent")).to_have_text("100%", timeout=TRAINING_SECONDS * 1000)
    epochs = page.evaluate("document.getElementById('loss-chart').data[0].x")
    assert epochs == [1, 2, 3, 4]
    expect(page.locator("[data-testid=model-status]")).to_have_text("succeeded")
    expect(page.locator("[data-testid=confusion-matrix] .main-svg").first).to_be_visible()
    expect(page.locator("[data-testid=per-class] tbody tr")).to_have_count(3)
    expect(page.locator("[data-testid=parameter-count]")).to_have_text(re.compile(r"^[\d,]+$"))
    assert page.evaluate("document.getElementById('accuracy-chart').data[1].y.length") == 4
    shot(page, "06-model")

    # Compiling for the Nano 33 BLE shows RAM and flash against the board and the verdict.
    page.locator("#compile-form").get_by_label("Board").select_option("nano33ble")
    page.get_by_role("button", name="Compile").click()
    expect(page).to_have_url(re.compile(r"/compiled/\d+$"))
    verdict = page.locator("[data-testid=fit-verdict]")
    expect(verdict).to_have_text(
        re.compile(r"^Fits on Arduino Nano 33 BLE"), timeout=TRAINING_SECONDS * 1000
    )
    expect(page.locator("[data-testid=ram-bar]")).to_contain_text("of 256.0 KiB")
    expect(page.locator("[data-testid=flash-bar]")).to_contain_text("of 1.0 MiB")
    expect(page.locator("[data-testid=accuracies]")).to_contain_text("TFLite-Micro")
    shot(page, "07-compiled")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="model.tflite").click()
    tflite = Path(download_info.value.path()).read_bytes()
    assert tflite[4:8] == b"TFL3"

    # Jobs lists both, finished.
    page.get_by_role("link", name="Jobs").click()
    expect(page.locator("#jobs-table [data-field=status]")).to_have_text(["succeeded", "succeeded"])
    shot(page, "08-jobs")
    page.get_by_role("link", name="Models", exact=True).click()
    shot(page, "09-models")
    page.get_by_role("link", name="Devices").click()
    shot(page, "10-devices")

    # A POST without the CSRF token is refused, even with the session cookie.
    refused = page.request.post(f"{server_url}/datasets", form={"name": "forged"})
    assert refused.status == 403

    # Another user sees a 404 page for this dataset.
    token = httpx.post(
        f"{server_url}/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
    ).json()["access_token"]
    created = httpx.post(
        f"{server_url}/api/v1/users",
        json={"username": "bob", "password": "bob-password"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201
    other = browser_context.browser.new_context(viewport={"width": 1280, "height": 800})
    bob = other.new_page()
    log_in(bob, server_url, "bob", "bob-password")
    expect(bob).to_have_url(f"{server_url}/datasets")
    response = bob.goto(dataset_url)
    assert response is not None
    assert response.status == 404
    expect(bob.get_by_role("heading", name="Page not found")).to_be_visible()
    shot(bob, "11-not-found")
    other.close()

    # Logging out ends the session.
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{server_url}/login")
    expect(page.get_by_role("status")).to_have_text("You are logged out.")
    page.goto(dataset_url)
    expect(page).to_have_url(re.compile(r"/login\?next="))
