"""The pages without a browser: sessions, CSRF, ownership, error pages."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tinymlaas.db.session import transaction
from tinymlaas.jobs import service as jobs
from tinymlaas.models import CompiledModel, TrainedModel, User

from conftest import ADMIN_PASSWORD, Database
from support.factories import compiled_row, labelled_zip

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)

HTML = {"Accept": "text/html"}


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the page has no CSRF field"
    return match.group(1)


def log_in(client: TestClient, username: str = "admin", password: str = ADMIN_PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token."""
    form = client.get("/login", headers=HTML)
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/datasets", headers=HTML).text)


def test_pages_need_a_login(app_client: TestClient) -> None:
    response = app_client.get("/datasets/1?folder=a", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fdatasets%2F1%3Ffolder%3Da"


def test_login_sets_a_protected_cookie_and_wrong_password_is_refused(
    app_client: TestClient,
) -> None:
    form = app_client.get("/login", headers=HTML)
    wrong = app_client.post(
        "/login",
        data={"username": "admin", "password": "nope-nope", "csrf_token": csrf_of(form.text)},
    )
    assert wrong.status_code == 401
    assert "Wrong username or password." in wrong.text

    response = app_client.post(
        "/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/datasets"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    # A new session starts at login: the anonymous form's token no longer works.
    assert csrf_of(app_client.get("/datasets", headers=HTML).text) != csrf_of(form.text)


def test_the_cookie_does_not_open_the_api_and_a_forged_one_is_ignored(
    app_client: TestClient,
) -> None:
    log_in(app_client)
    assert app_client.get("/api/v1/datasets").status_code == 401
    app_client.cookies.set("tinymlaas_session", "eyJ1aWQiOjF9.forged.signature")
    response = app_client.get("/datasets", headers=HTML, follow_redirects=False)
    assert response.status_code == 303


def test_post_without_or_with_a_wrong_csrf_token_is_refused(app_client: TestClient) -> None:
    token = log_in(app_client)
    missing = app_client.post("/datasets", data={"name": "birds"}, headers=HTML)
    assert missing.status_code == 403
    assert "CSRF" in missing.text
    wrong = app_client.post("/datasets", data={"name": "birds", "csrf_token": "x" + token})
    assert wrong.status_code == 403
    assert "birds" not in app_client.get("/datasets", headers=HTML).text

    created = app_client.post("/datasets", data={"name": "birds", "csrf_token": token})
    assert created.status_code == 200
    assert "Created dataset &#39;birds&#39;." in created.text


def test_service_errors_come_back_on_the_page(app_client: TestClient) -> None:
    token = log_in(app_client)
    app_client.post("/datasets", data={"name": "birds", "csrf_token": token})
    again = app_client.post(
        "/datasets",
        data={"name": "birds", "csrf_token": token},
        headers={"Referer": str(app_client.base_url) + "/datasets"},
    )
    assert again.status_code == 200
    assert "you already have a dataset named &#39;birds&#39;" in again.text
    assert 'class="flash flash-error"' in again.text


def test_import_reports_each_rejected_entry(app_client: TestClient) -> None:
    token = log_in(app_client)
    archive, _ = labelled_zip({"cat": 2})
    buffer = io.BytesIO(archive)
    with zipfile.ZipFile(buffer, "a") as extra:
        extra.writestr("cat/notes.png", b"not an image")
    response = app_client.post(
        "/datasets/import",
        data={"name": "cats"},
        files={"file": ("cats.zip", buffer.getvalue(), "application/zip")},
        headers={"X-CSRF-Token": token, "Accept": "application/json"},
    )
    assert response.status_code == 400
    body = response.json()
    assert [error["entry"] for error in body["errors"]] == ["cat/notes.png"]
    # Nothing was stored: not even the dataset the request created first.
    assert "No datasets yet" in app_client.get("/datasets", headers=HTML).text


def test_another_users_dataset_is_a_404_page(app_client: TestClient, client: TestClient) -> None:
    created = client.post("/api/v1/datasets", json={"name": "private"})
    dataset_id = created.json()["id"]
    client.post("/api/v1/users", json={"username": "bob", "password": "bob-password"})
    other = TestClient(client.app)
    log_in(other, "bob", "bob-password")
    response = other.get(f"/datasets/{dataset_id}", headers=HTML)
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert "private" not in response.text
    thumbnail = other.get(f"/datasets/{dataset_id}/export")
    assert thumbnail.status_code == 404


def test_unknown_pages_are_html_and_the_api_keeps_json(app_client: TestClient) -> None:
    page = app_client.get("/no/such/page", headers=HTML)
    assert page.status_code == 404
    assert "<html" in page.text
    api = app_client.get("/api/v1/no-such-thing", headers=HTML)
    assert api.status_code == 404
    assert api.json() == {"detail": "Not Found"}


def test_plotly_is_served_from_the_installed_package(app_client: TestClient) -> None:
    response = app_client.get("/vendor/plotly.min.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert b"plotly.js" in response.content[:2000]


def test_the_login_form_is_rate_limited_like_the_api(app_client: TestClient) -> None:
    limit = app_client.app.state.settings.login_max_failures  # type: ignore[attr-defined]
    token = csrf_of(app_client.get("/login", headers=HTML).text)
    for _ in range(limit):
        wrong = app_client.post(
            "/login", data={"username": "admin", "password": "wrong-pass", "csrf_token": token}
        )
        assert wrong.status_code == 401
    blocked = app_client.post(
        "/login", data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": token}
    )
    assert blocked.status_code == 429
    assert "Too many failed logins" in blocked.text


def test_the_datasets_page_shows_a_page_of_rows_with_links_to_the_others(
    app_client: TestClient,
) -> None:
    token = log_in(app_client)
    for name in ("alpha", "beta", "gamma"):
        app_client.post("/datasets", data={"name": name, "csrf_token": token})

    first = app_client.get("/datasets?limit=2", headers=HTML).text
    assert "1–2 of 3" in first
    assert ">gamma<" in first
    assert ">beta<" in first
    assert ">alpha<" not in first
    assert 'href="/datasets?offset=2&amp;limit=2" rel="next"' in first
    assert 'rel="prev"' not in first

    second = app_client.get("/datasets?offset=2&limit=2", headers=HTML).text
    assert "3–3 of 3" in second
    assert ">alpha<" in second
    assert ">gamma<" not in second
    assert 'href="/datasets?limit=2" rel="prev"' in second
    assert 'rel="next"' not in second


def test_a_form_is_held_to_the_api_schema(app_client: TestClient) -> None:
    token = log_in(app_client)
    response = app_client.post(
        "/datasets",
        data={"name": "x" * 201, "csrf_token": token},
        headers={"Referer": str(app_client.base_url) + "/datasets"},
    )
    assert response.status_code == 200
    assert "name: String should have at most 200 characters" in response.text
    assert "No datasets yet" in response.text


def test_the_jobs_page_links_each_job_to_what_it_makes_a_page_at_a_time(
    app_client: TestClient, database: Database
) -> None:
    log_in(app_client)
    with transaction(database.factory) as session:
        admin = session.scalars(select(User).where(User.username == "admin")).one()
        training = jobs.create_job(session, admin, "train")
        model = TrainedModel(
            owner_id=admin.id,
            name="flowers v1",
            status="queued",
            config={"architecture": "cnn-small", "alpha": 1.0},
            classes=[],
        )
        model.job_id = training.id
        session.add(model)
        session.flush()
        compiling = jobs.create_job(session, admin, "compile")
        compiled = CompiledModel(
            owner_id=admin.id, model_id=model.id, board="nano33ble", quantization="int8"
        )
        compiled.status, compiled.job_id = "queued", compiling.id
        session.add(compiled)
        session.flush()
        model_id, compiled_id = model.id, compiled.id

    newest = app_client.get("/jobs?limit=1", headers=HTML).text
    assert f'<a href="/compiled/{compiled_id}">nano33ble</a>' in newest
    assert "flowers v1" not in newest
    assert "1–1 of 2" in newest
    assert 'href="/jobs?offset=1&amp;limit=1" rel="next"' in newest

    older = app_client.get("/jobs?offset=1&limit=1", headers=HTML).text
    assert f'<a href="/models/{model_id}">flowers v1</a>' in older
    assert "2–2 of 2" in older
    assert 'href="/jobs?limit=1" rel="prev"' in older


def test_the_compiled_page_pages_too(app_client: TestClient, database: Database) -> None:
    log_in(app_client)
    with database.factory() as session:
        admin_id = session.scalars(select(User.id).where(User.username == "admin")).one()
    older, newer = compiled_row(database, admin_id), compiled_row(database, admin_id)

    compiled = app_client.get("/compiled?limit=1", headers=HTML).text
    assert f'href="/compiled/{newer}"' in compiled
    assert f'href="/compiled/{older}"' not in compiled
    assert "1–1 of 2" in compiled
    assert 'href="/compiled?offset=1&amp;limit=1" rel="next"' in compiled


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_compiled_page_shows_the_c_engines_figures(
    app_client: TestClient, database: Database
) -> None:
    from tinymlaas.contracts import Activation, Measured
    from tinymlaas.hardware.boards import get_board
    from tinymlaas.hardware.footprint import fit_c

    log_in(app_client)
    with database.factory() as session:
        admin_id = session.scalars(select(User.id).where(User.username == "admin")).one()
    verdict = fit_c(get_board("virtual"), weights_bytes=9_000, activation_bytes=6_144,
                    input_bytes=256)  # fmt: skip
    accuracy = {"float": 0.95, "int8": 0.9, "tflm": 0.875, "c": 0.875, "images": 24}
    estimated = compiled_row(
        database, admin_id, engine="c", activation=Activation(peak_bytes=6_144, floor_bytes=5_120),
        accuracy=accuracy, fits=verdict.fits, fit_detail=verdict.detail,
    )  # fmt: skip
    in_place = Activation(peak_bytes=4_096, floor_bytes=5_120, in_place_saved_bytes=2_048)
    measured = compiled_row(
        database, admin_id, engine="c", activation=in_place,
        accuracy=accuracy, measured=Measured(
            core="cortex-m4", machine="mps2-an386", flash_bytes=30_720, weights_bytes=9_216,
            code_bytes=21_504, ram_bytes=8_192, stack_bytes=512, instructions=1_234_567,
            latency_ms_estimate=19.29,
        ),
    )  # fmt: skip

    page = _text(app_client.get(f"/compiled/{estimated}", headers=HTML).text)
    assert "int8 · TinyMLaaS C" in page
    assert "Activations: 6.0 KiB planned (one static buffer) · per-operator floor 5.0 KiB" in page
    assert "TFLite-Micro arena 29.3 KiB measured" in page
    assert "TinyMLaaS C 87.5%" in page
    assert "TFLite-Micro 87.5%" in page
    assert "Estimated: not yet measured on the board's core" in page
    assert "activation buffer (C engine plan) 6.0 KiB + input buffer 256 B" in page
    assert "C engine code (estimate until measured) 24.0 KiB" in page

    assert "saved by in-place operators" not in page
    page = _text(app_client.get(f"/compiled/{measured}", headers=HTML).text)
    assert "Measured on cortex-m4 (QEMU mps2-an386)" in page
    assert (
        "Activations: 4.0 KiB planned (one static buffer) · per-operator floor 5.0 KiB"
        " · 2.0 KiB saved by in-place operators"
    ) in page
    assert (
        "Flash 30.0 KiB (weights 9.0 KiB, code 21.0 KiB) · RAM 8.0 KiB (stack 512 B) ·"
        " 1,234,567 instructions per inference · latency ≈ 19.3 ms (estimate)"
    ) in page
    assert "Estimated: not yet measured" not in page

    tflm = _text(app_client.get(f"/compiled/{compiled_row(database, admin_id)}", headers=HTML).text)
    assert "int8 · TFLite-Micro" in tflm
    assert "TinyMLaaS C" not in tflm

    with database.factory() as session:
        model_id = session.get_one(CompiledModel, estimated).model_id
    form = app_client.get(f"/models/{model_id}", headers=HTML).text
    assert '<select name="engine"><option value="tflm">TFLite-Micro' in form
    assert '<option value="c">TinyMLaaS C' in form
