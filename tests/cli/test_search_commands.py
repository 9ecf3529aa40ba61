"""tinymlaas search start / show / list / cancel against a live server (no training here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from support.cli import Cli, cells
from support.factories import pattern_dataset_zip

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)


def test_start_show_list_and_cancel_a_search(logged_in: Cli, tmp_path: Path) -> None:
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
    missing = logged_in("search", "show", "999")
    assert missing.exit_code != 0
    assert "search 999 not found" in missing.output
