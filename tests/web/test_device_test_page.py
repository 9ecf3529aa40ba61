"""The compiled page's fourth column: the model tested on the board, disagreements first."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tinymlaas.db.session import transaction
from tinymlaas.devices.testing.report import build_report
from tinymlaas.models import Dataset, DeviceTest, Job
from web.test_page_details import admin_id, text_of
from web.test_pages import HTML, log_in

from conftest import Database
from support.factories import compiled_row, device_row

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)


def compiled_tested_on_a_board(database: Database, answers: list[dict[str, object]]) -> int:
    """A compiled model installed on a device and tested there with these answers."""
    owner = admin_id(database)
    accuracy = {"float": 1.0, "int8": 2 / 3, "tflm": 2 / 3, "images": 3}
    compiled_id = compiled_row(database, owner, accuracy=accuracy)
    device_id = device_row(database, owner, installed_compiled_id=compiled_id)
    with transaction(database.factory) as session:
        dataset = Dataset(owner_id=owner, name="patterns")
        job = Job(owner_id=owner, kind="device_test", status="succeeded", progress=1.0)
        session.add_all([dataset, job])
        session.flush()
        labels, host = [0, 1, 1], [[10, -10], [-5, 5], [-3, 3]]
        report = build_report(["a", "b"], labels, [101, 102, 103], host, answers, 0.05, 3 * 271)
        session.add(
            DeviceTest(
                owner_id=owner, device_id=device_id, compiled_id=compiled_id,
                dataset_id=dataset.id, job_id=job.id, split="validation", stage="done",
                image_ids=[101, 102, 103], labels=labels, host=host, answers=answers,
                done=3, report=report.model_dump(mode="json"),
            )
        )  # fmt: skip
    return compiled_id


def test_a_board_that_disagrees_with_the_host_is_shown_with_the_images(
    app_client: TestClient, database: Database
) -> None:
    log_in(app_client)
    compiled_id = compiled_tested_on_a_board(
        database,
        [
            {"status": "ok", "scores": [10, -10], "latency_us": 900},
            {"status": "ok", "scores": [6, -6], "latency_us": 1100},  # board says a, host b
            {"status": "timeout", "error": "no answer within 2 s"},
        ],
    )
    page = app_client.get(f"/compiled/{compiled_id}", headers=HTML).text
    words = text_of(page)
    assert "On the device 33.3%" in words  # the fourth column: 1 of 3 right on the board
    assert "disagrees with the host's int8 on 2 of 3 images" in words
    assert "/images/102/thumbnail" in page
    assert "/images/103/thumbnail" in page
    assert "/images/101/thumbnail" not in page
    assert "board no answer" in words
    assert "Test on nano" in words


def test_a_board_that_agrees_says_so(app_client: TestClient, database: Database) -> None:
    log_in(app_client)
    compiled_id = compiled_tested_on_a_board(
        database,
        [{"status": "ok", "scores": scores, "latency_us": 800} for scores in
         ([10, -10], [-5, 5], [-3, 3])],
    )  # fmt: skip
    words = text_of(app_client.get(f"/compiled/{compiled_id}", headers=HTML).text)
    assert "top-1 equals the host's int8 on all 3 images" in words
    assert "On the device 100.0%" in words


STOPPED = "the board stopped answering after image 1 (5 images in a row without an answer, …)"
HUNG_BOARD_ANSWERS: list[dict[str, object]] = [
    {"status": "ok", "scores": [10, -10], "latency_us": 900},
    {"status": "timeout", "error": "no answer within 2 s"},
    {"status": "not_sent", "error": STOPPED},
]


def test_a_board_that_stopped_answering_says_after_which_image(
    app_client: TestClient, database: Database
) -> None:
    log_in(app_client)
    compiled_id = compiled_tested_on_a_board(database, HUNG_BOARD_ANSWERS)
    words = text_of(app_client.get(f"/compiled/{compiled_id}", headers=HTML).text)
    assert f"Stopped early: {STOPPED}; the image not sent counts as wrong." in words
    assert "1 answered, 1 timeouts, 0 errors, 1 not sent" in words
    assert "On the device 33.3%" in words


def test_the_form_starts_a_test_and_shows_why_it_is_refused(
    app_client: TestClient, database: Database
) -> None:
    token = log_in(app_client)
    compiled_id = compiled_tested_on_a_board(
        database, [{"status": "ok", "scores": [1, 0], "latency_us": 5}] * 3
    )
    page = app_client.get(f"/compiled/{compiled_id}", headers=HTML).text
    action = re.search(r'action="(/devices/\d+/test)"', page)
    assert action is not None
    response = app_client.post(
        action.group(1),
        data={"split": "all", "limit": "2", "csrf_token": token},
        headers=HTML | {"referer": f"/compiled/{compiled_id}"},
        follow_redirects=True,
    )
    # The service's refusal comes back on the page (the stand-in model has no dataset).
    assert "has no dataset: give dataset_id" in text_of(response.text)
