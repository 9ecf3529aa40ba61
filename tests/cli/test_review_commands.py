"""`tinymlaas datasets review …` and `tinymlaas devices capture-rule …` against a live server."""

from __future__ import annotations

import json
import re

import pytest

from conftest import Database
from support.cli import Cli, cells
from support.factories import device_row
from support.review_rows import admin_id, pets_zip, queue_frames

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)


@pytest.fixture
def dataset_id(logged_in: Cli, server_url: str, tmp_path: object) -> int:
    path = f"{tmp_path}/pets.zip"
    with open(path, "wb") as file:
        file.write(pets_zip())
    logged_in.ok("datasets", "import", path, "--name", "pets")
    (row,) = json.loads(logged_in.ok("datasets", "list", "--json"))["items"]
    return int(row["id"])


def labels(logged_in: Cli, dataset_id: int) -> dict[str, int]:
    shown = json.loads(logged_in.ok("datasets", "list", "--json"))["items"]
    dataset = next(item for item in shown if item["id"] == dataset_id)
    return {label["name"]: label["count"] for label in dataset["labels"]}


def test_list_accept_relabel_and_discard(
    logged_in: Cli, database: Database, dataset_id: int
) -> None:
    device_id = device_row(database, admin_id(database))
    frames = [("cat", 0.9, (1, 1, 1)), ("dog", 0.5, (2, 2, 2)), ("cat", 0.6, (3, 3, 3)),
              ("dog", 0.7, (4, 4, 4))]  # fmt: skip
    confident, doubtful, middle, dog = queue_frames(database, dataset_id, device_id, *frames)

    rows = cells(logged_in.ok("datasets", "review", "list", str(dataset_id)))
    assert [row[0] for row in rows] == [str(doubtful), str(middle), str(dog), str(confident)]
    assert rows[0][1:6] == ["dog", "50.0%", "100.0%", "below score", str(device_id)]

    accepted = logged_in.ok("datasets", "review", "accept", str(dataset_id), str(doubtful))
    assert accepted.startswith("Accepted 1 frame as images ")
    assert "3 still waiting" in accepted
    relabelled = logged_in.ok(
        "datasets", "review", "relabel", str(dataset_id), str(middle), str(dog), "--label", "fox"
    )
    assert relabelled.startswith("Relabelled 2 frames")
    assert labels(logged_in, dataset_id) == {"cat": 2, "dog": 3, "fox": 2}

    missing = logged_in("datasets", "review", "accept", str(dataset_id), str(confident), "4242")
    assert missing.exit_code == 1
    assert "review item 4242 not in dataset" in missing.stderr
    assert "nothing was changed" in missing.stderr
    no_ids = logged_in("datasets", "review", "accept", str(dataset_id))
    assert no_ids.exit_code == 2
    assert "give review item ids, or --all" in no_ids.output

    discarded = logged_in.ok("datasets", "review", "discard", str(dataset_id), "--all", "--yes")
    assert discarded.startswith("Discarded 1 frame")
    assert json.loads(logged_in.ok("datasets", "review", "list", str(dataset_id), "--json")) == {
        "items": [],
        "total": 0,
    }
    assert "Nothing to review" in logged_in.ok("datasets", "review", "list", str(dataset_id))


def test_capture_rules_are_set_shown_and_deleted(
    logged_in: Cli, database: Database, dataset_id: int
) -> None:
    device_id = str(device_row(database, admin_id(database)))
    shown = logged_in.ok(
        "devices", "capture-rule", "set", device_id, "--dataset", str(dataset_id),
        "--below", "0.6", "--sample-per-hour", "3", "--max-per-hour", "20",
    )  # fmt: skip
    assert re.search(r"^Top score below +0\.6 *$", shown, re.M)
    assert re.search(r"^Random per hour +3 *$", shown, re.M)
    assert re.search(r"^Waiting in the queue +0 of at most 1000 *$", shown, re.M)
    rule = json.loads(logged_in.ok("devices", "capture-rule", "show", device_id, "--json"))
    assert (rule["dataset_id"], rule["max_per_hour"], rule["enabled"]) == (dataset_id, 20, True)

    refused = logged_in("devices", "capture-rule", "set", device_id, "--dataset", str(dataset_id))
    assert refused.exit_code == 1
    assert "at least one of below_score, margin or sample_per_hour" in refused.stderr

    logged_in.ok("devices", "capture-rule", "delete", device_id)
    gone = logged_in("devices", "capture-rule", "show", device_id)
    assert gone.exit_code == 1
    assert f"device {device_id} has no capture rule" in gone.stderr
