"""tinymlaas datasets versions … against a live server."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from support.cli import Cli, cells
from support.factories import labelled_zip

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)


def _import(runner: Cli, tmp_path: Path) -> tuple[str, dict[str, bytes]]:
    data, entries = labelled_zip({"cat": 2, "dog": 1})
    archive = tmp_path / "pets.zip"
    archive.write_bytes(data)
    runner.ok("datasets", "import", str(archive), "--name", "pets")
    (dataset,) = json.loads(runner.ok("datasets", "list", "--json"))["items"]
    return str(dataset["id"]), entries


def test_create_list_show_export_and_diff_versions(logged_in: Cli, tmp_path: Path) -> None:
    dataset_id, entries = _import(logged_in, tmp_path)
    assert "No versions yet" in logged_in.ok("datasets", "versions", "list", dataset_id)

    created = logged_in.ok("datasets", "versions", "create", dataset_id, "--note", "first")
    assert "Created version 1 of 'pets': 3 images, labels cat 2, dog 1" in created
    again = logged_in("datasets", "versions", "create", dataset_id)
    assert again.exit_code == 1
    assert "dataset 'pets' has not changed since version 1" in again.stderr

    shown = logged_in.ok("datasets", "versions", "show", dataset_id, "1")
    assert "v1 of pets" in shown
    assert "cat 2, dog 1" in shown
    assert "first" in shown

    archive = tmp_path / "pets.zip"
    archive.unlink()
    archive.write_bytes(labelled_zip({"bird": 1})[0])
    logged_in.ok("datasets", "add", dataset_id, str(archive))
    logged_in.ok("datasets", "versions", "create", dataset_id)
    listed = cells(logged_in.ok("datasets", "versions", "list", dataset_id))
    assert [row[0] for row in listed] == ["v2", "v1"]
    assert listed[1][1:3] == ["first", "3"]

    diff = logged_in.ok("datasets", "versions", "diff", dataset_id, "1", "2")
    assert "v1 → v2: 1 added, 0 removed, 0 relabelled, 3 unchanged" in diff
    rows = cells(diff)
    assert ["bird", "0", "1", "1", "0", "0", "0"] in rows
    since = json.loads(logged_in.ok("datasets", "versions", "diff", dataset_id, "2", "--json"))
    assert (since["to_version"], since["added"], since["unchanged"]) == (None, 0, 4)

    output = tmp_path / "v1.zip"
    saved = logged_in.ok("datasets", "versions", "export", dataset_id, "1", "-o", str(output))
    assert f"Saved version 1 of dataset {dataset_id}" in saved
    with zipfile.ZipFile(output) as exported:
        files = {name: exported.read(name) for name in exported.namelist() if name[-1] != "/"}
    assert files == entries

    missing = logged_in("datasets", "versions", "show", dataset_id, "9")
    assert missing.exit_code == 1
    assert f"dataset {dataset_id} has no version 9" in missing.stderr
