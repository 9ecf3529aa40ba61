"""A search's page in Chromium: the Pareto scatter drawn by plotly.js from the installed
package, with the board's RAM limit. The candidates' results are written into the rows (no
training here), as the coordinator records them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from tinymlaas.enums import CandidateStatus, JobStatus
from tinymlaas.models import Job, Search, SearchCandidate
from web.conftest import SCREENSHOTS
from web.test_layout_browser import ACTIONS, HEADER, OVERFLOW

from conftest import ADMIN_PASSWORD, Database
from support.factories import pattern_dataset_zip
from support.page_rows import api_client

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True),
]


def test_the_pareto_front_is_drawn_against_the_boards_ram(
    server_url: str, browser_context: Any, database: Database
) -> None:
    from playwright.sync_api import expect

    client = api_client(server_url)
    dataset = client.post(
        "/datasets/import",
        files={"file": ("p.zip", pattern_dataset_zip(per_class=8), "application/zip")},
        data={"name": "patterns"},
    ).json()
    body = {
        "name": "nano search", "dataset_id": dataset["id"], "board": "nano33ble",
        "time_budget_minutes": 5, "architectures": ["cnn-small"], "input_sizes": [32, 64],
        "color_modes": ["grayscale"],
    }  # fmt: skip
    accepted = client.post("/searches", json=body).json()
    with database.factory.begin() as session:
        ids = session.scalars(
            select(SearchCandidate.id)
            .where(SearchCandidate.search_id == accepted["id"])
            .order_by(SearchCandidate.id)
        ).all()
        for candidate_id, accuracy in zip(ids, (0.6, 0.8, 0.7, 0.9, 0.5, 0.75), strict=True):
            session.execute(
                update(SearchCandidate)
                .where(SearchCandidate.id == candidate_id)
                .values(
                    status=CandidateStatus.trained,
                    val_accuracy=accuracy,
                    epochs_trained=1,
                    model_id=SearchCandidate.training_model_id,
                )
            )
        # the search has ended: every trained candidate can be deployed from its row
        session.execute(update(Search).where(Search.id == accepted["id"]).values(phase="done"))
        session.execute(
            update(Job).where(Job.id == accepted["job_id"]).values(status=JobStatus.succeeded)
        )
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server_url}/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{server_url}/searches/{accepted['id']}")
    expect(page.locator("#pareto-chart .main-svg").first).to_be_visible()
    # six candidates, and the board's RAM and the margin as two vertical lines
    expect(page.locator("#pareto-chart .scatterlayer .point")).to_have_count(6)
    expect(page.locator("#pareto-chart .shapelayer path")).to_have_count(2)
    expect(page.get_by_role("button", name="Compile")).to_have_count(6)
    # a click on a point brings its row (and its deploy button) forward
    box = page.locator("#pareto-chart .scatterlayer .point").first.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.locator("tr.highlight")).to_have_count(1)
    expect(page.locator("tr.highlight button")).to_be_focused()
    page.screenshot(path=str(SCREENSHOTS / "search.png"), full_page=True)
    # on a phone the page scrolls down, never sideways: wide tables scroll inside themselves
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("#pareto-chart .main-svg").first).to_be_visible()
    report = page.evaluate(OVERFLOW, [HEADER, ACTIONS])
    assert report["scrollWidth"] <= report["width"], report
    assert report["header"] == [], report
    page.screenshot(path=str(SCREENSHOTS / "search-phone.png"), full_page=True)
    assert errors == []
