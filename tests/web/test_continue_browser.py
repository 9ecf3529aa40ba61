"""Continuing a model from its page in Chromium: the form keeps the base's architecture and
input (shown, not editable) and the new version trains from the base's weights."""

from __future__ import annotations

import re
from typing import Any

import pytest

from conftest import ADMIN_PASSWORD
from support.factories import pattern_dataset_zip
from support.jobs import wait_for_job
from support.models import PATTERN_TRAINING
from support.page_rows import api_client

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True),
]


def test_continue_training_from_the_model_page(
    server_url: str, browser_context: Any, local_worker: None
) -> None:
    from playwright.sync_api import expect

    client = api_client(server_url)
    dataset = client.post(
        "/datasets/import",
        files={"file": ("p.zip", pattern_dataset_zip(per_class=8), "application/zip")},
        data={"name": "patterns"},
    ).json()
    base = client.post(
        "/models", json=PATTERN_TRAINING | {"dataset_id": dataset["id"], "epochs": 2}
    ).json()
    assert wait_for_job(client, base["job_id"], timeout=240)["status"] == "succeeded"

    page = browser_context.new_page()
    page.goto(f"{server_url}/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{server_url}/models/{base['id']}")
    page.get_by_role("link", name="Continue training").click()

    expect(page.get_by_role("heading", name="Continue training 'patterns'")).to_be_visible()
    expect(page.locator("#architecture")).to_be_disabled()
    expect(page.locator("#input_width")).to_have_value("16")
    page.locator("input[name=epochs]").fill("1")
    page.get_by_role("button", name="Continue training").click()

    expect(page).to_have_url(re.compile(r"/models/(\d+)$"))
    new_id = int(page.url.rsplit("/", 1)[1])
    assert new_id != base["id"]
    expect(page.get_by_test_id("model-status")).to_have_text("succeeded", timeout=240_000)
    model = client.get(f"/models/{new_id}").json()
    assert model["base_model_id"] == base["id"]
    assert model["config"]["architecture"] == "cnn-small"
    assert (model["config"]["input_width"], model["config"]["alpha"]) == (16, 0.5)
    assert model["config"]["restore_best_weights"] is True
    assert len(model["history"]) == 1
