"""tinymlaas search start / show / list / cancel against a live server (no training here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tinymlaas.config import Settings
from tinymlaas.search.coordinator import advance_all

from conftest import Database
from support.cli import Cli, cells
from support.factories import pattern_dataset_zip

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)


def test_start_show_list_cancel_and_watch_a_search(
    logged_in: Cli, tmp_path: Path, database: Database, settings: Settings
) -> None:
    archive = tmp_path / "patterns.zip"
    archive.write_bytes(pattern_dataset_zip(per_class=8))
    logged_in.ok("datasets", "import", str(archive), "--name", "patterns")
    (dataset,) = json.loads(logged_in.ok("datasets", "list", "--json"))["items"]
    started = logged_in.ok(
        "search", "start", "--dataset", str(dataset["id"]), "--board", "nano33ble",
        "--budget", "5", "--architecture", "cnn-small", "--architecture", "mobilenet-v2",
        "--input-size", "32", "--input-size", "96", "--color", "grayscale", "--no-watch",
    )  # fmt: skip
    found = re.search(r"^Search (\d+) started \(job (\d+)\): (\d+) of 12 candidates fit", started)
    assert found, started
    search_id, trained = found.group(1), int(found.group(3))
    shown = logged_in.ok("search", "show", search_id)
    rows = [row for row in cells(shown) if len(row) == 9 and row[0].isdigit()]
    assert len(rows) == 12
    assert sum(1 for row in rows if row[2] == "training") == trained
    assert any(
        row[1] == "mobilenet-v2 α0.35 96×96 grayscale" and row[2] == "dropped" for row in rows
    )
    as_json = json.loads(logged_in.ok("search", "show", search_id, "--json"))
    dropped = [c for c in as_json["candidates"] if c["status"] == "dropped"]
    assert dropped
    assert all(c["reason"] for c in dropped)
    listed = cells(logged_in.ok("search", "list"))
    assert [row[0] for row in listed if row and row[0].isdigit()] == [search_id]
    cancelled = logged_in.ok("search", "cancel", search_id)
    assert f"Search {search_id}: cancelling" in cancelled
    # deploying needs the search to have ended, and a candidate (the recommendation by default)
    running = logged_in("search", "deploy", search_id)
    assert running.exit_code != 0
    assert f"Search {search_id} has no recommendation: name a candidate." in running.output
    candidate = str(as_json["candidates"][0]["id"])
    early = logged_in("search", "deploy", search_id, candidate, "--device", "5")
    assert early.exit_code != 0
    assert "still running" in early.output
    transfer = logged_in(
        "search", "start", "--dataset", str(dataset["id"]), "--board", "nano33ble",
        "--architecture", "cnn-small", "--weights", "imagenet", "--no-watch",
    )  # fmt: skip
    assert transfer.exit_code != 0
    assert "weights 'imagenet' cannot start any candidate" in transfer.output
    missing = logged_in("search", "show", "999")
    assert missing.exit_code != 0
    assert "search 999 not found" in missing.output
    # the serving process takes the cancel: every training stops, watch ends with the table
    advance_all(database.factory, settings)
    watched = logged_in("search", "watch", search_id)
    assert watched.exit_code == 1, watched.output
    assert (
        f"Search {search_id} 'best for nano33ble' for nano33ble (tflm): cancelled" in watched.output
    )
    assert "cancelled with the search after 0 epoch(s)" in watched.output
    assert "No recommendation: cancelled by the user" in watched.output
