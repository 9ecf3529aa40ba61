"""The review page and the device page's capture rule, without a browser."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tinymlaas.devices import review_counts
from web.test_pages import HTML, log_in

from conftest import Database
from support.clock import MovableClock
from support.factories import compiled_row, device_row, image_bytes
from support.review_rows import admin_id, pets_zip, queue_frames

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)


def pets(client: TestClient) -> int:
    response = client.post(
        "/api/v1/datasets/import",
        files={"file": ("pets.zip", pets_zip(), "application/zip")},
        data={"name": "pets"},
    )
    return int(response.json()["id"])


@pytest.fixture
def queued(client: TestClient, database: Database) -> tuple[int, int, list[int]]:
    """Pets with three frames waiting from a device running a deployed cat/dog model."""
    owner = admin_id(database)
    compiled_id = compiled_row(database, owner, classes=("cat", "dog"))
    device_id = device_row(database, owner, installed_compiled_id=compiled_id)
    dataset_id = pets(client)
    frames = [("cat", 0.9, (1, 1, 1)), ("dog", 0.51, (2, 2, 2)), ("dog", 0.7, (3, 3, 3))]
    return dataset_id, device_id, queue_frames(database, dataset_id, device_id, *frames)


def test_the_review_page_shows_the_queue_most_doubtful_first(
    client: TestClient, queued: tuple[int, int, list[int]]
) -> None:
    dataset_id, _, (confident, doubtful, middle) = queued
    log_in(client)
    page = client.get(f"/datasets/{dataset_id}/review", headers=HTML)
    assert page.status_code == 200
    order = [int(i) for i in re.findall(r'class="review-item"[^>]*data-id="(\d+)"', page.text)]
    assert order == [doubtful, middle, confident]
    assert re.findall(r'data-testid="review-label">(\w+)<', page.text) == ["dog", "dog", "cat"]
    assert '<b id="review-total">3</b> waiting' in page.text
    text = html.unescape(page.text)
    assert "<kbd>1</kbd> cat · <kbd>2</kbd> dog" in text
    # One click continues the deployed model on this dataset.
    form = re.search(
        r'<form method="post" action="/models" data-testid="continue-training">(.*?)</form>',
        page.text,
        re.S,
    )
    assert form, "no continue-training button"
    assert f'name="dataset_id" value="{dataset_id}"' in form.group(1)
    assert "Continue training m" in form.group(1)
    frame = client.get(f"/datasets/{dataset_id}/review/{doubtful}/content")
    assert frame.headers["content-type"] == "image/png"


def test_the_forms_work_without_javascript_and_refuse_bad_ids(
    client: TestClient, queued: tuple[int, int, list[int]]
) -> None:
    dataset_id, _, (confident, doubtful, middle) = queued
    csrf = log_in(client)
    url = f"/datasets/{dataset_id}/review"
    done = client.post(
        f"{url}/relabel",
        data={"csrf_token": csrf, "item_id": [doubtful, middle], "label": "cat"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert "Relabelled 2 frames." in client.get(url, headers=HTML).text
    refused = client.post(
        f"{url}/accept",
        data={"csrf_token": csrf, "item_id": [confident, 12345]},
        headers={"Accept": "application/json"},
    )
    assert refused.status_code == 404
    assert refused.json()["missing_ids"] == [12345]
    labels = client.get(f"/api/v1/datasets/{dataset_id}").json()["labels"]
    assert {item["name"]: item["count"] for item in labels} == {"cat": 4, "dog": 2}
    no_csrf = client.post(f"{url}/discard", data={"item_id": [confident]})
    assert no_csrf.status_code == 403
    empty = client.post(f"{url}/discard", data={"csrf_token": csrf}, headers=HTML)
    assert "select at least one frame first" in html.unescape(empty.text)


def test_the_device_page_sets_and_removes_a_capture_rule(
    client: TestClient, queued: tuple[int, int, list[int]]
) -> None:
    dataset_id, device_id, _ = queued
    csrf = log_in(client)
    page = client.get(f"/devices/{device_id}", headers=HTML).text
    assert 'data-testid="capture-rule-form"' in page
    assert "capture-rule-state" not in page
    saved = client.post(
        f"/devices/{device_id}/capture-rule",
        data={"csrf_token": csrf, "dataset_id": dataset_id, "below_score": "0.6",
              "margin": "", "sample_per_hour": "2", "max_per_hour": "30", "enabled": "true"},
    )  # fmt: skip
    assert saved.status_code == 200
    assert "Capture rule on." in saved.text
    rule = client.get(f"/api/v1/devices/{device_id}/capture-rule").json()
    assert (rule["below_score"], rule["margin"], rule["sample_per_hour"]) == (0.6, None, 2)
    assert rule["max_per_hour"] == 30
    assert "3 waiting in the review of pets" in html.unescape(saved.text)

    bad = client.post(
        f"/devices/{device_id}/capture-rule",
        data={"csrf_token": csrf, "dataset_id": dataset_id, "max_per_hour": "10"},
        headers=HTML,
    )
    assert "at least one of below_score, margin or sample_per_hour" in bad.text
    assert client.get(f"/api/v1/devices/{device_id}/capture-rule").json()["max_per_hour"] == 30
    removed = client.post(f"/devices/{device_id}/capture-rule/delete", data={"csrf_token": csrf})
    assert "Capture rule removed." in removed.text
    assert client.get(f"/api/v1/devices/{device_id}/capture-rule").status_code == 404


def test_every_label_gets_a_button_the_first_nine_a_key_and_all_are_suggested(
    client: TestClient, database: Database
) -> None:
    dataset_id = pets(client)
    names = [f"class{index:02d}" for index in range(11)]
    for name in names:
        client.post(
            f"/api/v1/datasets/{dataset_id}/images",
            files={"files": (f"{name}.png", image_bytes(color=(len(name), 0, 0)), "image/png")},
            data={"folder": name},
        )
    queue_frames(database, dataset_id, None, ("cat", 0.5, (5, 5, 5)))
    log_in(client)
    page = html.unescape(client.get(f"/datasets/{dataset_id}/review", headers=HTML).text)
    buttons = re.findall(r'data-label="([^"]+)"><kbd>(\d)</kbd>', page)
    labels = sorted(["cat", "dog", *names])
    assert buttons == [(label, str(index + 1)) for index, label in enumerate(labels[:9])]
    every = re.findall(r'data-label="([^"]+)">(?:<kbd>\d</kbd> )?([^<]+)</button>', page)
    assert every == [(label, label) for label in labels]
    suggested = re.search(r'<datalist id="review-label-names">(.*?)</datalist>', page, re.S)
    assert suggested
    assert re.findall(r'<option value="([^"]+)">', suggested.group(1)) == labels


def test_the_capture_rule_panel_shows_kept_dropped_and_rejected_frames(
    client: TestClient,
    database: Database,
    queued: tuple[int, int, list[int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dataset_id, device_id, _ = queued
    monkeypatch.setattr(review_counts, "now", MovableClock())  # no hour turns mid-test
    rule = {"dataset_id": dataset_id, "below_score": 0.6, "max_per_hour": 2}
    assert client.put(f"/api/v1/devices/{device_id}/capture-rule", json=rule).status_code == 200
    now = review_counts.now()
    outcomes: list[tuple[int, review_counts.Outcome]] = [
        (0, "kept"), (0, "kept"), (0, "dropped_hourly_cap"), (0, "rejected"),
        (1, "kept"), (1, "dropped_queue_full"),
    ]  # fmt: skip
    with database.factory() as session:
        for hours_ago, outcome in outcomes:
            review_counts.count(session, device_id, now - timedelta(hours=hours_ago), outcome)
        session.commit()
    log_in(client)
    page = client.get(f"/devices/{device_id}", headers=HTML).text
    table = page[page.index('data-testid="capture-rule-counts"') :].split("</table>")[0]
    rows = [row for row in table.split("<tr>") if "<td" in row]
    cells = [re.findall(r'<td class="num">(\d+)</td>', row) for row in rows]
    assert cells == [["2", "1", "0", "1"], ["3", "1", "1", "1"]]
    assert "Kept this hour: <b>2</b> of at most 2" in page
