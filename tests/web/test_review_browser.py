"""The review page in Chromium: frames filed with the keyboard and in bulk, then one click
continues the deployed model on the updated dataset."""

from __future__ import annotations

import re
from typing import Any

import pytest

from web.conftest import SCREENSHOTS

from conftest import ADMIN_PASSWORD, Database
from support.factories import compiled_row, device_row
from support.page_rows import api_client
from support.review_rows import admin_id, pets_zip, queue_frames

SHOTS = SCREENSHOTS / "review"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True),
]


def test_review_with_the_keyboard_then_continue_training(
    server_url: str, browser_context: Any, database: Database
) -> None:
    from playwright.sync_api import expect

    api = api_client(server_url)
    dataset = api.post(
        "/datasets/import",
        files={"file": ("pets.zip", pets_zip(), "application/zip")},
        data={"name": "pets"},
    ).json()
    owner = admin_id(database)
    compiled_id = compiled_row(database, owner, classes=("cat", "dog"))
    base_id = api.get(f"/compiled/{compiled_id}").json()["model_id"]
    device_id = device_row(database, owner, installed_compiled_id=compiled_id)
    # Most doubtful first: 0.5 (dog), 0.52 (cat), 0.55 (cat), 0.6 (dog), 0.8 (cat).
    frames = [("cat", 0.8, (9, 0, 0)), ("dog", 0.5, (0, 9, 0)), ("cat", 0.52, (0, 0, 9)),
              ("dog", 0.6, (9, 9, 0)), ("cat", 0.55, (0, 9, 9))]  # fmt: skip
    ids = queue_frames(database, dataset["id"], device_id, *frames)
    by_doubt = [ids[1], ids[2], ids[4], ids[3], ids[0]]

    page = browser_context.new_page()
    page.goto(f"{server_url}/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{server_url}/datasets/{dataset['id']}")
    page.get_by_test_id("review-link").click()

    tiles = page.get_by_test_id("review-item")
    expect(tiles).to_have_count(5)
    assert [int(t.get_attribute("data-id")) for t in tiles.all()] == by_doubt
    expect(page.get_by_test_id("review-label")).to_have_text(["dog", "cat", "cat", "dog", "cat"])
    expect(tiles.first).to_be_focused()
    page.screenshot(path=f"{SHOTS}-desktop.png", full_page=True)

    # a: the focused frame (dog, 0.5) goes into dog/.
    page.keyboard.press("a")
    expect(tiles).to_have_count(4)
    expect(page.locator("#review-total")).to_have_text("4")
    expect(tiles.first).to_be_focused()
    dogs = api.get(f"/datasets/{dataset['id']}/images", params={"label": "dog"}).json()
    assert dogs["total"] == 3
    # → then 2: the second frame (cat, 0.55) is relabelled dog.
    page.keyboard.press("ArrowRight")
    expect(tiles.nth(1)).to_be_focused()
    page.keyboard.press("2")
    expect(tiles).to_have_count(3)
    assert (
        api.get(f"/datasets/{dataset['id']}/images", params={"label": "dog"}).json()["total"] == 4
    )
    # Delete: the focused one (dog, 0.6) is discarded.
    expect(tiles.nth(1)).to_be_focused()
    assert tiles.nth(1).get_attribute("data-id") == str(ids[3])
    page.keyboard.press("Delete")
    expect(tiles).to_have_count(2)
    # Space selects; 1 files every selected frame as cat.
    page.keyboard.press("ArrowLeft")
    page.keyboard.press(" ")
    page.keyboard.press("ArrowRight")
    page.keyboard.press(" ")
    expect(page.get_by_test_id("review-selected")).to_have_text("2 selected")
    page.keyboard.press("1")
    expect(page.get_by_test_id("review-empty")).to_be_visible()
    expect(page.locator("#review-total")).to_have_text("0")
    labels = api.get(f"/datasets/{dataset['id']}").json()["labels"]
    assert {item["name"]: item["count"] for item in labels} == {"cat": 4, "dog": 4}
    assert api.get(f"/datasets/{dataset['id']}/review").json()["total"] == 0

    # Continue training the model installed on the device, on the dataset as it is now.
    page.get_by_role("button", name="Continue training m").click()
    expect(page).to_have_url(re.compile(r"/models/(\d+)$"))
    model = api.get(f"/models/{page.url.rsplit('/', 1)[1]}").json()
    assert (model["base_model_id"], model["dataset_id"]) == (base_id, dataset["id"])
    assert model["status"] == "queued"


def test_the_review_page_at_phone_width(
    server_url: str, browser_context: Any, database: Database
) -> None:
    from playwright.sync_api import expect

    api = api_client(server_url)
    dataset = api.post(
        "/datasets/import",
        files={"file": ("pets.zip", pets_zip(), "application/zip")},
        data={"name": "pets"},
    ).json()
    colours = [(i * 20, 100, 200 - i * 20) for i in range(8)]
    queue_frames(
        database, dataset["id"], None, *[("cat", 0.5 + i / 40, c) for i, c in enumerate(colours)]
    )
    page = browser_context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server_url}/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{server_url}/datasets/{dataset['id']}/review")
    expect(page.get_by_test_id("review-item")).to_have_count(8)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px screen"
    # Bulk actions by tapping: select two, discard them.
    page.get_by_label(re.compile(r"Select frame")).first.check()
    page.get_by_label(re.compile(r"Select frame")).nth(1).check()
    page.screenshot(path=f"{SHOTS}-phone.png", full_page=True)
    page.get_by_role("button", name="Discard").click()
    expect(page.get_by_test_id("review-item")).to_have_count(6)
    assert api.get(f"/datasets/{dataset['id']}/review").json()["total"] == 6
    # One tap per label: the frame last tapped goes to dog; a new label is typed.
    page.get_by_test_id("review-item").nth(2).click()
    page.get_by_test_id("review-labels").get_by_role("button", name="dog").click()
    expect(page.get_by_test_id("review-item")).to_have_count(5)
    page.get_by_label("Select frame").first.check()
    page.get_by_label("Another label").fill("fox")
    page.get_by_role("button", name="Relabel", exact=True).click()
    expect(page.get_by_test_id("review-item")).to_have_count(4)
    labels = api.get(f"/datasets/{dataset['id']}").json()["labels"]
    assert {item["name"]: item["count"] for item in labels} == {"cat": 2, "dog": 3, "fox": 1}


def test_the_capture_rule_form_on_the_device_page(
    server_url: str, browser_context: Any, database: Database
) -> None:
    from playwright.sync_api import expect

    api = api_client(server_url)
    dataset = api.post("/datasets", json={"name": "pets"}).json()
    device_id = device_row(database, admin_id(database))
    page = browser_context.new_page()
    page.goto(f"{server_url}/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{server_url}/devices/{device_id}")

    card = page.get_by_test_id("capture-rule")
    card.get_by_label("Review queue of").select_option(label="pets")
    card.get_by_label("Top two within").fill("0.15")
    card.get_by_label("At most per hour").fill("12")
    card.get_by_role("button", name="Save rule").click()
    expect(page.get_by_role("status")).to_have_text("Capture rule on.")
    expect(card.get_by_test_id("capture-rule-facts")).to_contain_text(
        "0 waiting in the review of pets"
    )
    rule = api.get(f"/devices/{device_id}/capture-rule").json()
    assert (rule["dataset_id"], rule["margin"], rule["max_per_hour"]) == (dataset["id"], 0.15, 12)
    assert rule["below_score"] is None
    card.scroll_into_view_if_needed()
    card.screenshot(path=f"{SHOTS}-capture-rule-desktop.png")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the device page is {width}px wide on a 390px screen"
    page.get_by_test_id("capture-rule").screenshot(path=f"{SHOTS}-capture-rule-phone.png")
