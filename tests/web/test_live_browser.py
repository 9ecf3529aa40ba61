"""The pages' scripts in Chromium: badges that follow the job stream, the proposed model name,
one time format, one colour per class, and the import error's headline."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tinymlaas.db.session import transaction
from tinymlaas.enums import JobStatus
from tinymlaas.jobs import repository, service
from tinymlaas.models import Job

from conftest import ADMIN_PASSWORD, Database
from support.factories import image_bytes, zip_bytes
from support.page_rows import api_client, build_page_rows

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True),
]

LOCAL_TIME = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"


def logged_in_page(browser_context: Any, server_url: str) -> Any:
    page = browser_context.new_page()
    page.goto(f"{server_url}/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server_url}/datasets")
    return page


def test_the_badges_follow_the_job_as_it_runs(
    server_url: str, database: Database, browser_context: Any
) -> None:
    from playwright.sync_api import expect

    rows = build_page_rows(server_url, database)
    page = logged_in_page(browser_context, server_url)
    page.goto(f"{server_url}/models/{rows.queued_model_id}")
    badge = page.get_by_test_id("model-status")
    card = page.locator("#progress-status")
    expect(badge).to_have_text("queued")

    # What a worker writes when it takes the job and reports progress (no worker runs here).
    job_id = rows.queued_job_id
    with transaction(database.factory) as session:
        assert repository.claim(session, job_id, "test-worker")
        service.set_resource_status(session, job_id, JobStatus.running, None)
        repository.add_event(session, job_id, "state", {"status": JobStatus.running})
    expect(card).to_have_text("running")
    expect(badge).to_have_text("running")
    expect(badge).to_have_class(re.compile(r"status-running"))
    with transaction(database.factory) as session:
        repository.add_event(session, job_id, "progress", {"progress": 0.5, "message": "epoch 1/2"})
    expect(page.locator("#progress-message")).to_have_text("epoch 1/2")
    with transaction(database.factory) as session:
        job = session.scalars(select(Job).where(Job.id == job_id)).one()
        service.finish(session, job, JobStatus.failed, message="failed", error="out of memory")
    expect(badge).to_have_text("failed")
    # The page reloads when the job is over: the badge and the message agree.
    expect(page.get_by_role("alert")).to_contain_text("out of memory")
    expect(badge).to_have_text("failed")


def test_the_train_form_proposes_a_name(
    server_url: str, database: Database, browser_context: Any
) -> None:
    client = api_client(server_url)
    try:
        response = client.post(
            "/datasets/import",
            files={"file": ("f.zip", zip_bytes(_two_classes()), "application/zip")},
            data={"name": "flowers"},
        )
        assert response.status_code == 201, response.text
    finally:
        client.close()
    page = logged_in_page(browser_context, server_url)
    page.goto(f"{server_url}/models/new")
    name = page.get_by_label("Name")
    page.wait_for_function("document.querySelector('#estimate .verdict-big') !== null")
    assert name.input_value() == "flowers-cnn-small"
    page.locator("#architecture").select_option("mobilenet-v1")
    assert name.input_value() == "flowers-mobilenet-v1"
    name.fill("my own name")
    page.locator("#architecture").select_option("cnn-small")
    assert name.input_value() == "my own name"
    # The estimate writes sizes in binary units, as the pages and the CLI do.
    assert re.search(r"\d KiB", page.locator("#estimate").inner_text())
    assert not re.search(r"\d (KB|MB)\b", page.locator("#estimate").inner_text())


def _two_classes() -> dict[str, bytes | None]:
    return {
        f"{label}/{index}.png": image_bytes(color=(index * 20, 10 if label == "a" else 200, 0))
        for label in ("a", "b")
        for index in range(3)
    }


def test_times_share_one_format_and_classes_one_colour(
    server_url: str, database: Database, browser_context: Any
) -> None:
    rows = build_page_rows(server_url, database)
    page = logged_in_page(browser_context, server_url)
    for path in ("/jobs", f"/jobs/{rows.install_job_id}", "/compiled", "/devices"):
        page.goto(f"{server_url}{path}")
        times = page.locator("time[data-local]").all_inner_texts()
        assert times, f"{path} shows no time"
        for text in times:
            assert re.match(LOCAL_TIME, text), f"{path}: {text!r}"

    page.goto(f"{server_url}/devices/{rows.device_id}")
    page.wait_for_function(
        "document.querySelectorAll('#history-rows tr').length === 6"
        " && document.getElementById('observation-chart').data"
    )
    shown = [
        page.locator("#latest-time").inner_text(),
        page.locator("#device-last-seen").inner_text(),
        *page.locator("#history-rows tr td:first-child").all_inner_texts(),
        *page.locator("time[data-local]").all_inner_texts(),
    ]
    for text in shown:
        assert re.match(LOCAL_TIME, text.strip()), text
    colours = page.evaluate(
        """() => {
          const css = (color) => {
            const probe = document.createElement("span");
            probe.style.color = color;
            document.body.append(probe);
            const value = getComputedStyle(probe).color;
            probe.remove();
            return value;
          };
          const bars = Object.fromEntries([...document.querySelectorAll(".score-row")].map(
            (row) => [row.dataset.class,
                      getComputedStyle(row.querySelector(".bar span")).backgroundColor]));
          const lines = Object.fromEntries(document.getElementById("observation-chart").data.map(
            (trace) => [trace.name, css(trace.line.color)]));
          return { bars, lines };
        }"""
    )
    assert colours["bars"] == colours["lines"]
    assert len(set(colours["bars"].values())) == 3, colours


def test_an_import_error_does_not_repeat_its_headline(
    server_url: str, browser_context: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    archive = tmp_path / "mixed.zip"
    archive.write_bytes(zip_bytes({"a/1.png": image_bytes(), "a/2.png": b"not a png at all"}))
    page = logged_in_page(browser_context, server_url)
    form = page.locator("#import-form")
    form.get_by_label("Name").fill("mixed")
    form.get_by_label("Zip file").set_input_files(str(archive))
    form.get_by_role("button", name="Import").click()
    box = form.locator(".upload-errors")
    expect(box.locator("li")).to_have_count(1)
    expect(box.locator("li")).to_contain_text("a/2.png")
    headline = box.locator("p.strong").inner_text()
    assert "a/2.png" not in headline
    assert headline == "Upload rejected, nothing was stored:"
