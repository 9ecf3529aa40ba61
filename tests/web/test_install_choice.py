"""The device page says why a compiled model cannot be installed and keeps Install off, unless
an expert forces a model compiled for another board (the API's rule, shown before submitting)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tinymlaas.models import Installation, User

from conftest import ADMIN_PASSWORD, Database
from support.factories import compiled_row, device_row

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)

HTML = {"Accept": "text/html"}


def nano_device_with_two_models(database: Database) -> tuple[int, int, int]:
    """A Nano 33 BLE device, a model compiled for it and one compiled for the ESP32-S3-EYE."""
    with database.factory() as session:
        admin_id = session.scalars(select(User.id).where(User.username == "admin")).one()
    for_nano = compiled_row(database, admin_id, board="nano33ble")
    for_esp = compiled_row(database, admin_id, board="esp32-s3-eye")
    device_id = device_row(database, admin_id, identity="SN-9", board="nano33ble")
    return device_id, for_nano, for_esp


def option_of(page: str, compiled_id: int) -> str:
    match = re.search(rf'<option value="{compiled_id}"(.*?)</option>', page, re.S)
    assert match, f"no option for compiled model {compiled_id}"
    return html.unescape(match.group(1))


def test_the_device_page_gives_each_choice_its_verdict(
    app_client: TestClient, database: Database
) -> None:
    from web.test_pages import log_in

    csrf = log_in(app_client)
    device_id, for_nano, for_esp = nano_device_with_two_models(database)

    page = app_client.get(f"/devices/{device_id}", headers=HTML).text

    assert 'data-allowed="yes"' in option_of(page, for_nano)
    other = option_of(page, for_esp)
    assert 'data-allowed="no"' in other
    assert 'data-forceable="yes"' in other
    assert "was compiled for Espressif ESP32-S3-EYE" in other
    assert "board is Arduino Nano 33 BLE (Sense) (nano33ble)" in other
    assert other.rstrip().endswith("for another board")

    # The form's submission follows the same rule: refused, then accepted when forced (the
    # device is offline, so the forced install stops at that next rule, not at the board).
    refused = app_client.post(
        f"/devices/{device_id}/install",
        data={"compiled_id": for_esp, "csrf_token": csrf},
        headers={"Accept": "application/json"},
    )
    assert refused.status_code == 409
    assert "was compiled for" in refused.json()["detail"]
    forced = app_client.post(
        f"/devices/{device_id}/install",
        data={"compiled_id": for_esp, "csrf_token": csrf, "force": "true"},
        headers={"Accept": "application/json"},
    )
    assert forced.status_code == 409
    assert (
        forced.json()["detail"] == f"device {device_id} is offline: start its bridge or plug it in"
    )
    with database.factory() as session:
        assert session.scalars(select(Installation)).all() == []


@pytest.mark.slow
def test_install_stays_off_with_the_reason_until_an_expert_forces_it(
    server_url: str, browser_context: Any, database: Database
) -> None:
    from playwright.sync_api import expect

    from web.test_browser import log_in

    device_id, for_nano, for_esp = nano_device_with_two_models(database)
    page = browser_context.new_page()
    log_in(page, server_url, "admin", ADMIN_PASSWORD)
    page.goto(f"{server_url}/devices/{device_id}")

    button = page.locator("#install-button")
    refused = page.get_by_test_id("install-refused")
    page.locator("#install-choice").select_option(str(for_nano))
    expect(button).to_be_enabled()
    expect(refused).to_be_hidden()

    page.locator("#install-choice").select_option(str(for_esp))
    expect(button).to_be_disabled()
    expect(refused).to_contain_text("was compiled for Espressif ESP32-S3-EYE")
    expect(button).to_have_attribute("title", re.compile("was compiled for"))
    page.get_by_label(re.compile("Install anyway")).check()
    expect(button).to_be_enabled()
    page.get_by_label(re.compile("Install anyway")).uncheck()
    expect(button).to_be_disabled()
