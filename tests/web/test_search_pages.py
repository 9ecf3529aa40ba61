"""The search pages: the start form, a search's candidates and its Pareto chart's data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from web.test_pages import HTML, csrf_of, log_in

from support.searches import import_patterns

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)


@pytest.fixture(autouse=True)
def no_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty weights cache with downloads off (the tests have no internet)."""
    monkeypatch.setenv("TINYMLAAS_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("TINYMLAAS_WEIGHTS_DOWNLOAD", "false")


def test_start_a_search_from_the_form_and_see_its_candidates(
    app_client: TestClient, client: TestClient
) -> None:
    dataset_id = import_patterns(client)
    log_in(app_client)
    page = app_client.get("/searches", headers=HTML).text
    assert 'data-testid="search-form"' in page
    assert '<option value="nano33ble" selected>' in page
    fields = {
        "csrf_token": csrf_of(page),
        "name": "from the page",
        "dataset_id": str(dataset_id),
        "board": "nano33ble",
        "engine": "tflm",
        "time_budget_minutes": "5",
        "objective": "accuracy",
        "max_latency_ms": "",
    }
    response = app_client.post("/searches", data=fields, follow_redirects=False)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert re.fullmatch(r"/searches/\d+", location)
    shown = app_client.get(location, headers=HTML).text
    assert "from the page" in shown
    assert '<script src="/vendor/plotly.min.js">' in shown
    chart_json = re.search(r'id="search-data">(.*?)</script>', shown, re.S)
    assert chart_json
    chart = json.loads(chart_json.group(1))
    assert chart["ram_limit"] == 256 * 1024
    statuses = {c["status"] for c in chart["candidates"]}
    assert statuses == {"training", "dropped"}
    assert shown.count('class="status status-training"') == 12
    # a refused form says why on the page
    fields["board"] = "uno"
    refused = app_client.post("/searches", data=fields, headers=HTML)
    assert "unknown board &#39;uno&#39;" in refused.text or "unknown board 'uno'" in refused.text
    assert client.get("/api/v1/searches").json()["total"] == 1
    # ImageNet weights that are not in the cache: the form says how to provide them
    fields |= {"board": "nano33ble", "weights": "both"}
    no_weights = app_client.post("/searches", data=fields, headers=HTML)
    assert "tinymlaas weights import" in no_weights.text
    assert client.get("/api/v1/searches").json()["total"] == 1
    assert app_client.get("/vendor/plotly.min.js").status_code == 200
