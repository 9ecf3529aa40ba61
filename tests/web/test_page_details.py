"""What the pages say, without a browser: sizes, plurals, accuracy cards, the 404 page, the
favicon, the job page and where the jobs list links to."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tinymlaas.contracts import Measured
from tinymlaas.db.session import transaction
from tinymlaas.models import (
    CompiledModel,
    Dataset,
    DeviceCapture,
    DeviceTest,
    Job,
    Search,
    TrainedModel,
    User,
)
from web.test_pages import HTML, log_in

from conftest import Database
from support.factories import compiled_row, device_row, labelled_zip
from support.page_rows import device_with_install

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)


def admin_id(database: Database) -> int:
    with database.factory() as session:
        return session.scalars(select(User.id).where(User.username == "admin")).one()


def text_of(html: str) -> str:
    """The page's words, tags removed and spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_compiled_page_shows_kib_and_mib(app_client: TestClient, database: Database) -> None:
    log_in(app_client)
    compiled_id = compiled_row(database, admin_id(database))
    page = app_client.get(f"/compiled/{compiled_id}", headers=HTML).text
    assert "8.0 MiB RAM" in page
    assert not re.search(r"\d (KB|MB|GB)\b", page)


def test_counts_agree_with_their_word(
    app_client: TestClient, client: TestClient, database: Database
) -> None:
    archive, _ = labelled_zip({"only": 1})
    response = client.post(
        "/api/v1/datasets/import",
        files={"file": ("one.zip", archive, "application/zip")},
        data={"name": "one"},
    )
    assert response.status_code == 201, response.text
    log_in(app_client)
    page = text_of(app_client.get("/models/new", headers=HTML).text)
    assert "one (1 image, 1 label)" in page


def _model_with_metrics(database: Database, evaluated_on: str) -> int:
    compiled_id = compiled_row(database, admin_id(database))
    with transaction(database.factory) as session:
        model = session.get_one(TrainedModel, session.get_one(CompiledModel, compiled_id).model_id)
        model.metrics = {
            "accuracy": 0.91,
            "val_accuracy": 0.875,
            "held_out_accuracy": 0.875 if evaluated_on == "validation" else 0.8,
            "evaluated_on": evaluated_on,
            "evaluated_images": 16 if evaluated_on == "validation" else 10,
            "per_class": {},
            "confusion_matrix": [],
        }
        return model.id


def test_without_a_test_split_the_model_page_shows_one_validation_card(
    app_client: TestClient, database: Database
) -> None:
    log_in(app_client)
    model_id = _model_with_metrics(database, "validation")
    page = text_of(app_client.get(f"/models/{model_id}", headers=HTML).text)
    assert "Validation accuracy 87.5% 16 validation images" in page
    assert "Held-out" not in page
    assert "Test accuracy" not in page
    assert page.count("87.5%") == 1


def test_with_a_test_split_the_model_page_names_both_sets(
    app_client: TestClient, database: Database
) -> None:
    log_in(app_client)
    model_id = _model_with_metrics(database, "test")
    page = text_of(app_client.get(f"/models/{model_id}", headers=HTML).text)
    assert "Validation accuracy 87.5%" in page
    assert "Test accuracy 80.0% 10 test images, never used in training" in page
    assert "Held-out" not in page


def test_every_page_links_an_icon_that_exists(app_client: TestClient) -> None:
    page = app_client.get("/login", headers=HTML).text
    icon = re.search(r'<link rel="icon" href="([^"]+)"', page)
    assert icon, "the page links no icon"
    assert app_client.get(icon.group(1)).headers["content-type"].startswith("image/svg+xml")
    assert app_client.get("/favicon.ico").status_code == 200


def test_an_unknown_page_is_a_404_page_with_the_navigation(app_client: TestClient) -> None:
    log_in(app_client)
    response = app_client.get("/no/such/page", headers=HTML)
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert 'href="/models"' in response.text
    assert "Log out" in response.text
    api = app_client.get("/api/v1/no-such-thing", headers=HTML)
    assert api.status_code == 404
    assert api.json() == {"detail": "Not Found"}


def test_install_jobs_link_to_the_device_and_the_compiled_model(
    app_client: TestClient, database: Database
) -> None:
    log_in(app_client)
    compiled_id = compiled_row(database, admin_id(database))
    with transaction(database.factory) as session:
        admin = session.get_one(User, admin_id(database))
        device_id, job_id = device_with_install(session, admin, compiled_id)
    row = re.search(
        rf'<tr data-job-id="{job_id}">.*?</tr>',
        app_client.get("/jobs", headers=HTML).text,
        re.DOTALL,
    )
    assert row, "the install job is not listed"
    assert f'href="/devices/{device_id}"' in row.group(0)
    assert f'href="/compiled/{compiled_id}"' in row.group(0)
    assert f'href="/jobs/{job_id}"' in row.group(0)


def test_device_tests_captures_and_searches_link_to_their_pages(
    app_client: TestClient, database: Database
) -> None:
    log_in(app_client)
    owner = admin_id(database)
    compiled_id = compiled_row(database, owner)
    device_id = device_row(database, owner, present=True)
    with transaction(database.factory) as session:
        test_job, capture_job, search_job = (
            Job(owner_id=owner, kind=kind, status="running")
            for kind in ("device_test", "capture", "search")
        )
        dataset = Dataset(owner_id=owner, name="pets")
        session.add_all([test_job, capture_job, search_job, dataset])
        session.flush()
        search = Search(
            owner_id=owner, name="small and good", job_id=search_job.id, board="virtual",
            engine="c", objective="accuracy", request={}, classes=2,
        )  # fmt: skip
        session.add_all(
            [
                DeviceTest(
                    owner_id=owner, device_id=device_id, compiled_id=compiled_id,
                    job_id=test_job.id, split="validation", image_ids=[], labels=[], done=0,
                ),
                DeviceCapture(
                    owner_id=owner, device_id=device_id, dataset_id=dataset.id,
                    job_id=capture_job.id, folder="cat", count=3, interval_ms=0, image_ids=[],
                ),
                search,
            ]
        )  # fmt: skip
        session.flush()
        jobs_and_search = (test_job.id, capture_job.id, search_job.id, search.id)
    test_job_id, capture_job_id, search_job_id, search_id = jobs_and_search
    page = app_client.get("/jobs", headers=HTML).text

    def row(job_id: int) -> str:
        found = re.search(rf'<tr data-job-id="{job_id}">.*?</tr>', page, re.DOTALL)
        assert found, f"job {job_id} is not listed"
        return found.group(0)

    assert f'href="/compiled/{compiled_id}#device-test"' in row(test_job_id)
    assert f'href="/devices/{device_id}"' in row(test_job_id)
    assert f'href="/devices/{device_id}#capture"' in row(capture_job_id)
    assert f'href="/searches/{search_id}"' in row(search_job_id)


def test_the_device_page_shows_the_installed_models_latency_estimate_beside_the_measured_one(
    app_client: TestClient, database: Database
) -> None:
    log_in(app_client)
    measured = Measured(
        core="cortex-m4", machine="mps2-an386", flash_bytes=30_720, weights_bytes=9_216,
        code_bytes=21_504, ram_bytes=8_192, stack_bytes=512, instructions=1_234_567,
        latency_ms_estimate=19.29,
    )  # fmt: skip
    plain = compiled_row(database, admin_id(database))
    estimated = compiled_row(database, admin_id(database), engine="c", measured=measured)
    shown = {}
    for compiled_id in (plain, estimated):
        with transaction(database.factory) as session:
            admin = session.get_one(User, admin_id(database))
            device_id, _ = device_with_install(session, admin, compiled_id)
        shown[compiled_id] = text_of(app_client.get(f"/devices/{device_id}", headers=HTML).text)
    assert "Latency (measured)" in shown[estimated]
    assert (
        "Latency (estimate) ≈ 19.3 ms estimated from the instructions counted on an emulated"
        " cortex-m4" in shown[estimated]
    )
    assert "Latency (estimate)" not in shown[plain]
    # its predictions per hour, from the aggregates (the latest rows are drawn by the script)
    assert '"total": 6' in shown[plain]
    assert re.search(
        r"\d{2}:00 6 bright-stripes 2 · dark-squares 2 · left-gradient 2 41\.5 ms 90\.0%",
        shown[plain],
    ), shown[plain][-600:]


def test_a_job_has_its_own_page(
    app_client: TestClient, database: Database, make_user_client: object
) -> None:
    log_in(app_client)
    compiled_id = compiled_row(database, admin_id(database))
    with transaction(database.factory) as session:
        admin = session.get_one(User, admin_id(database))
        device_id, job_id = device_with_install(session, admin, compiled_id)
    response = app_client.get(f"/jobs/{job_id}", headers=HTML)
    assert response.status_code == 200
    page = text_of(response.text)
    assert f"Install job #{job_id} succeeded" in page
    assert "Message installed" in page
    assert f'href="/devices/{device_id}"' in response.text
    assert f'href="/compiled/{compiled_id}"' in response.text
    assert app_client.get(f"/jobs/{job_id + 1000}", headers=HTML).status_code == 404
