"""tinymlaas datasets … against a live server."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tinymlaas.cli.client import ApiClient, current_session
from tinymlaas.cli.progress import ProgressFile

from support.cli import Cli
from support.factories import image_bytes, labelled_zip, zip_bytes

pytestmark = pytest.mark.parametrize("migrated_database", ["sqlite"], indirect=True)


def _datasets(runner: Cli) -> list[dict[str, object]]:
    result = runner("datasets", "list", "--json")
    assert result.exit_code == 0, result.output
    items: list[dict[str, object]] = json.loads(result.stdout)["items"]
    return items


def _import(runner: Cli, archive: Path, name: str) -> int:
    result = runner("datasets", "import", str(archive), "--name", name)
    assert result.exit_code == 0, result.output
    (dataset,) = [item for item in _datasets(runner) if item["name"] == name]
    return int(str(dataset["id"]))


def test_create_then_list_and_show(logged_in: Cli) -> None:
    empty = logged_in("datasets", "list")
    assert empty.exit_code == 0, empty.output
    assert "No datasets yet" in empty.output

    created = logged_in("datasets", "create", "birds", "--description", "garden")
    assert created.exit_code == 0, created.output
    assert "Created dataset 'birds' (id " in created.output
    (dataset,) = _datasets(logged_in)
    assert dataset["name"] == "birds"
    assert dataset["description"] == "garden"

    listed = logged_in("datasets", "list")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if "birds" in line)
    assert row.split("│")[1].strip() == str(dataset["id"])
    assert row.split("│")[3].strip() == "0"

    shown = logged_in("datasets", "show", str(dataset["id"]))
    assert shown.exit_code == 0, shown.output
    assert f"birds (id {dataset['id']})" in shown.output
    assert "garden" in shown.output
    assert "No folders." in shown.output


def test_a_taken_name_is_refused_with_the_servers_reason(logged_in: Cli) -> None:
    assert logged_in("datasets", "create", "birds").exit_code == 0

    again = logged_in("datasets", "create", "birds")

    assert again.exit_code == 1
    assert "you already have a dataset named 'birds'" in again.stderr
    assert len(_datasets(logged_in)) == 1


def test_import_then_export_gives_back_the_same_images(logged_in: Cli, tmp_path: Path) -> None:
    data, entries = labelled_zip({"cat": 2, "dog": 3}, prefix="train/")
    archive = tmp_path / "pets.zip"
    archive.write_bytes(data)

    imported = logged_in("datasets", "import", str(archive), "--name", "pets")

    assert imported.exit_code == 0, imported.output
    (dataset,) = _datasets(logged_in)
    assert f"Imported 'pets' (id {dataset['id']}): 5 images, labels cat 2, dog 3" in imported.output
    output = tmp_path / "out" / "pets-export.zip"
    output.parent.mkdir()
    exported = logged_in("datasets", "export", str(dataset["id"]), "-o", str(output))
    assert exported.exit_code == 0, exported.output
    assert f"Saved dataset {dataset['id']} to {output}" in exported.output
    with zipfile.ZipFile(output) as zipped:
        files = {name: zipped.read(name) for name in zipped.namelist() if not name.endswith("/")}
    assert files == entries
    assert sorted(path.name for path in output.parent.iterdir()) == ["pets-export.zip"]


def test_show_lists_labels_splits_and_folders(logged_in: Cli, tmp_path: Path) -> None:
    data, _ = labelled_zip({"cat": 2, "dog": 1}, prefix="train/")
    archive = tmp_path / "pets.zip"
    archive.write_bytes(data)
    dataset_id = _import(logged_in, archive, "pets")

    shown = logged_in("datasets", "show", str(dataset_id))

    assert shown.exit_code == 0, shown.output
    assert "cat 2, dog 1" in shown.output
    assert "train 3" in shown.output
    rows = {
        cells[0]: cells[1:]
        for line in shown.output.splitlines()
        if (cells := [cell.strip() for cell in line.split("│")[1:-1]])
    }
    assert rows["train/cat"] == ["cat", "train", "2", "2"]
    assert rows["train/dog"] == ["dog", "train", "1", "1"]
    assert rows["train"][-1] == "3"


def test_export_to_a_directory_takes_the_datasets_name_and_never_overwrites(
    logged_in: Cli, tmp_path: Path
) -> None:
    assert logged_in("datasets", "create", "empty one").exit_code == 0
    (dataset,) = _datasets(logged_in)

    exported = logged_in("datasets", "export", str(dataset["id"]), "-o", str(tmp_path))

    assert exported.exit_code == 0, exported.output
    with zipfile.ZipFile(tmp_path / "empty one.zip") as zipped:
        assert zipped.namelist() == []
    (tmp_path / "empty one.zip").write_bytes(b"mine")
    again = logged_in("datasets", "export", str(dataset["id"]), "-o", str(tmp_path))
    assert again.exit_code == 1
    assert "empty one.zip already exists: choose the file with -o" in again.stderr
    assert (tmp_path / "empty one.zip").read_bytes() == b"mine"


def test_add_images_to_a_folder(logged_in: Cli, tmp_path: Path) -> None:
    assert logged_in("datasets", "create", "fruit").exit_code == 0
    (dataset,) = _datasets(logged_in)
    red, green = tmp_path / "red.png", tmp_path / "green.jpg"
    red.write_bytes(image_bytes("PNG", color=(250, 0, 0)))
    green.write_bytes(image_bytes("JPEG", color=(0, 250, 0)))

    added = logged_in(
        "datasets", "add", str(dataset["id"]), str(red), str(green), "--folder", "apple"
    )

    assert added.exit_code == 0, added.output
    assert "Added 2 images in folder 'apple' to 'fruit'" in added.output
    assert "now 2 images, labels apple 2" in added.output
    exported = tmp_path / "fruit.zip"
    result = logged_in("datasets", "export", str(dataset["id"]), "-o", str(exported))
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(exported) as zipped:
        assert zipped.read("apple/red.png") == red.read_bytes()
        assert zipped.read("apple/green.jpg") == green.read_bytes()


def test_a_rejected_import_names_the_entry_and_stores_nothing(
    logged_in: Cli, tmp_path: Path
) -> None:
    archive = tmp_path / "bad.zip"
    archive.write_bytes(
        zip_bytes({"cat/good.png": image_bytes(), "cat/x.png": b"this is only text"})
    )

    result = logged_in("datasets", "import", str(archive), "--name", "bad")

    assert result.exit_code == 1
    headline, *problems = result.stderr.splitlines()
    assert headline.startswith("Error: ")
    assert "good.png" not in result.stderr
    assert len(problems) == 1
    assert problems[0].startswith("  - cat/x.png: not a decodable image")
    assert _datasets(logged_in) == []


def test_import_and_add_name_the_documentation_files_they_skipped(
    logged_in: Cli, tmp_path: Path
) -> None:
    archive = tmp_path / "flower_photos.zip"
    archive.write_bytes(
        zip_bytes(
            {
                "flower_photos/LICENSE.txt": b"CC-BY",
                "flower_photos/daisy/1.png": image_bytes(),
                "flower_photos/roses/2.png": image_bytes(color=(1, 2, 3)),
            }
        )
    )
    imported = logged_in("datasets", "import", str(archive), "--name", "flowers")
    assert imported.exit_code == 0, imported.output
    assert "2 images, labels daisy 1, roses 1" in imported.stdout
    assert imported.stdout.splitlines()[-2:] == [
        "Skipped 1 documentation file (not stored):",
        "  - flower_photos/LICENSE.txt",
    ]

    (dataset,) = _datasets(logged_in)
    readme = tmp_path / "README.md"
    readme.write_text("# roses")
    rose = tmp_path / "3.png"
    rose.write_bytes(image_bytes(color=(4, 5, 6)))
    added = logged_in(
        "datasets", "add", str(dataset["id"]), str(rose), str(readme), "--folder", "roses"
    )
    assert added.exit_code == 0, added.output
    assert "Added 1 image in folder 'roses'" in added.stdout
    assert added.stdout.splitlines()[-2:] == [
        "Skipped 1 documentation file (not stored):",
        "  - README.md",
    ]


def test_delete_with_yes(logged_in: Cli) -> None:
    assert logged_in("datasets", "create", "doomed").exit_code == 0
    assert logged_in("datasets", "create", "kept").exit_code == 0
    doomed = next(item for item in _datasets(logged_in) if item["name"] == "doomed")

    result = logged_in("datasets", "delete", str(doomed["id"]), "--yes")

    assert result.exit_code == 0, result.output
    assert f"Deleted dataset 'doomed' (id {doomed['id']})" in result.output
    assert [item["name"] for item in _datasets(logged_in)] == ["kept"]


def test_delete_asks_first_and_keeps_the_dataset_on_no(logged_in: Cli) -> None:
    assert logged_in("datasets", "create", "precious").exit_code == 0
    (dataset,) = _datasets(logged_in)

    result = logged_in("datasets", "delete", str(dataset["id"]), input="n\n")

    assert result.exit_code == 1
    assert "Delete dataset 'precious'" in result.output
    assert [item["name"] for item in _datasets(logged_in)] == ["precious"]


def test_an_unknown_dataset_is_reported(logged_in: Cli, tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    output = downloads / "missing.zip"

    shown = logged_in("datasets", "show", "999999")
    exported = logged_in("datasets", "export", "999999", "-o", str(output))

    assert shown.exit_code == 1
    assert "dataset 999999 not found" in shown.stderr
    assert exported.exit_code == 1
    assert "dataset 999999 not found" in exported.stderr
    assert list(downloads.iterdir()) == []


class _Counter:
    """A TransferProgress that remembers what it was told."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.moved = 0

    def start(self, total: int | None) -> None:
        self.total = total

    def advance(self, count: int) -> None:
        self.moved += count


def test_upload_progress_counts_each_byte_of_the_file_once(logged_in: Cli, tmp_path: Path) -> None:
    data, _ = labelled_zip({"cat": 3})
    archive = tmp_path / "cats.zip"
    archive.write_bytes(data)
    counter = _Counter()

    with ApiClient(*current_session()) as api, ProgressFile(archive, counter) as file:
        file.read(100)  # httpx rewinds before sending: the bar must go back too
        dataset = api.import_dataset(file, archive.name, "cats", "")

    assert dataset["image_count"] == 3
    assert counter.moved == len(data)
