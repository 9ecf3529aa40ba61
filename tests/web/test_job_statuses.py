"""The pages' scripts read the job statuses the server renders, never their own copy."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from tinymlaas.web.rendering import STATIC_DIR

STATUS_WORDS = ("queued", "running", "succeeded", "failed", "cancelled")


@pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)
def test_every_page_carries_the_job_statuses_for_its_scripts(app_client: TestClient) -> None:
    page = app_client.get("/login", headers={"Accept": "text/html"}).text
    match = re.search(r'<script type="application/json" id="job-statuses">(.*?)</script>', page)
    assert match, "the page has no job statuses"
    statuses = json.loads(match.group(1))
    assert statuses["statuses"] == {word: word for word in STATUS_WORDS}
    assert statuses["finished"] == ["succeeded", "failed", "cancelled"]
    assert statuses["active"] == ["queued", "running"]


def test_no_script_spells_out_a_job_status() -> None:
    for script in STATIC_DIR.glob("*.js"):
        text = script.read_text()
        for word in STATUS_WORDS:
            assert f'"{word}"' not in text, (script.name, word)
            assert f"'{word}'" not in text, (script.name, word)
