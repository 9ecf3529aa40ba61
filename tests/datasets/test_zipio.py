import io
import stat
import struct
import time
import zipfile
import zlib

import pytest
from PIL import Image

from tinymlaas.datasets.skipping import DOCUMENTATION, IgnoredEntry
from tinymlaas.datasets.zipio import (
    EntryProblem,
    ZipLimits,
    ZipPlan,
    ZipRejected,
    open_zip,
)

LIMITS = ZipLimits()
FOLDER = None  # marks a directory entry in make_zip


def png_bytes(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """Return a small PNG."""
    output = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(output, format="PNG")
    return output.getvalue()


def make_zip(
    *entries: tuple[str | zipfile.ZipInfo, bytes | None],
    compression: int = zipfile.ZIP_DEFLATED,
) -> io.BytesIO:
    """Return an in-memory zip of (name, data) entries; data None writes a directory entry."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries:
            if data is None:
                archive.writestr(str(name).rstrip("/") + "/", b"")
            else:
                archive.writestr(name, data, compress_type=compression)
    buffer.seek(0)
    return buffer


def patch_central_directory(
    buffer: io.BytesIO, entry: str, offset: int, field_format: str, value: int
) -> io.BytesIO:
    """Overwrite one field of `entry`'s central-directory record, as a forger would."""
    data = bytearray(buffer.getvalue())
    position = data.find(b"PK\x01\x02")
    while position >= 0:
        (name_length,) = struct.unpack_from("<H", data, position + 28)
        name = data[position + 46 : position + 46 + name_length].decode()
        if name == entry:
            struct.pack_into(field_format, data, position + offset, value)
            return io.BytesIO(bytes(data))
        position = data.find(b"PK\x01\x02", position + 46)
    raise AssertionError(f"no central-directory record for {entry!r}")


def rejection(buffer: io.BytesIO, limits: ZipLimits = LIMITS) -> ZipRejected:
    """Return the ZipRejected that open_zip raises for `buffer`."""
    with pytest.raises(ZipRejected) as caught:
        open_zip(buffer, limits)
    return caught.value


def accepted(buffer: io.BytesIO, limits: ZipLimits = LIMITS) -> ZipPlan:
    """Return the plan of a zip that must be accepted."""
    return open_zip(buffer, limits)


@pytest.mark.parametrize("content", [b"", b"this is not a zip at all" * 10, png_bytes()])
def test_non_zip_is_rejected_with_one_clear_problem(content: bytes) -> None:
    error = rejection(io.BytesIO(content))
    assert error.problems == [EntryProblem("", "file is not a zip archive")]
    assert str(error) == "file is not a zip archive"


def test_zip_with_only_junk_and_empty_folders_has_no_files() -> None:
    buffer = make_zip(
        ("__MACOSX/._cat.png", b"x"), (".DS_Store", b"x"), ("cat/", FOLDER), ("dog/", FOLDER)
    )
    assert rejection(buffer).problems == [EntryProblem("", "the zip contains no files")]


def test_too_many_entries() -> None:
    buffer = make_zip(*[(f"cat/{index}.png", b"x") for index in range(5)])
    error = rejection(buffer, ZipLimits(max_entries=3))
    assert error.problems == [EntryProblem("", "the zip has 5 entries, over the limit of 3")]


def test_entry_over_the_per_file_limit_is_named() -> None:
    buffer = make_zip(("cat/big.png", bytes(range(256)) * 8), ("cat/small.png", b"x"))
    error = rejection(buffer, ZipLimits(max_entry_bytes=1000))
    assert error.problems == [
        EntryProblem(
            "cat/big.png", "is 2.0 KiB uncompressed, over the per-file limit of 1000 bytes"
        )
    ]


def test_total_over_the_limit() -> None:
    buffer = make_zip(*[(f"cat/{index}.png", b"y" * 1500) for index in range(3)])
    error = rejection(buffer, ZipLimits(max_total_bytes=4000))
    assert error.problems == [
        EntryProblem("", "the files total 4.4 KiB uncompressed, over the limit of 3.9 KiB")
    ]


def test_highly_compressed_large_entry_is_refused_as_a_bomb() -> None:
    buffer = make_zip(("cat/blank.bmp", bytes(2 * 2**20)), ("cat/1.png", png_bytes()))
    (problem,) = rejection(buffer).problems
    assert problem.entry == "cat/blank.bmp"
    assert problem.problem.startswith("compression ratio ")
    assert problem.problem.endswith(":1 is over the limit of 100:1 (possible zip bomb)")


def test_small_highly_compressed_entry_is_accepted() -> None:
    # A blank 512 KiB bitmap compresses ~500:1 but cannot amplify into anything harmful.
    buffer = make_zip(("cat/blank.bmp", bytes(2**19)))
    plan = accepted(buffer)
    assert len(plan.read(plan.files[0])) == 2**19


def test_gigabyte_of_zeros_is_refused_fast_without_inflating() -> None:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("bomb/zeros.bmp", "w") as entry,
    ):
        chunk = bytes(2**20)
        for _ in range(1024):
            entry.write(chunk)
    assert len(buffer.getvalue()) < 2 * 2**20
    buffer.seek(0)
    started = time.perf_counter()
    error = rejection(buffer)
    assert time.perf_counter() - started < 0.2
    messages = [str(problem) for problem in error.problems]
    assert "'bomb/zeros.bmp': is 1.0 GiB uncompressed, over the per-file limit of 50.0 MiB" in (
        messages
    )
    assert any("possible zip bomb" in message for message in messages)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("../../etc/passwd", "path traversal ('..') is not allowed"),
        ("cat/../../x.png", "path traversal ('..') is not allowed"),
        ("..\\..\\x.png", "path traversal ('..') is not allowed"),
        ("/etc/x.png", "absolute paths are not allowed"),
        ("\\etc\\x.png", "absolute paths are not allowed"),
        ("C:/x.png", "paths starting with a drive letter are not allowed"),
        ("C:\\x.png", "paths starting with a drive letter are not allowed"),
        ("cat//x.png", "path 'cat//x.png' has an empty component"),
        ("cat/./x.png", "folder 'cat/.' contains '.', which is not allowed"),
        ("cat/x\x01.png", "name 'x\\x01.png' contains a control character"),
        ("cat/" + "x" * 201, "name of 201 characters, over the limit of 200"),
        ("x" * 201 + "/1.png", "name of 201 characters, over the limit of 200"),
    ],
)
def test_unsafe_paths_are_rejected_naming_the_entry(entry: str, message: str) -> None:
    buffer = make_zip((entry, b"data"), ("cat/ok.png", png_bytes()))
    (problem,) = rejection(buffer).problems
    assert problem.entry == entry
    assert message in problem.problem


def test_symlink_entry_is_rejected() -> None:
    link = zipfile.ZipInfo("cat/link.png")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    buffer = make_zip((link, b"/etc/passwd"), ("cat/ok.png", png_bytes()))
    assert rejection(buffer).problems == [
        EntryProblem("cat/link.png", "symbolic links are not allowed")
    ]


def test_encrypted_entry_is_rejected() -> None:
    buffer = make_zip(("cat/secret.png", png_bytes()), ("cat/ok.png", png_bytes()))
    forged = patch_central_directory(buffer, "cat/secret.png", 8, "<H", 0x1)
    assert rejection(forged).problems == [
        EntryProblem("cat/secret.png", "encrypted entries are not supported")
    ]


def test_unsupported_compression_is_rejected() -> None:
    buffer = make_zip(("cat/1.png", png_bytes()), compression=zipfile.ZIP_BZIP2)
    assert rejection(buffer).problems == [
        EntryProblem("cat/1.png", "compression method 12 is not supported (use deflate or none)")
    ]


def test_duplicate_paths_after_normalisation_are_rejected() -> None:
    buffer = make_zip(("cat/1.png", png_bytes()), ("cat\\1.png", png_bytes()))
    assert rejection(buffer).problems == [
        EntryProblem("cat\\1.png", "duplicate path 'cat/1.png' (same as entry 'cat/1.png')")
    ]


def test_file_and_folder_with_the_same_path_are_rejected() -> None:
    buffer = make_zip(("animals/cat", b"x"), ("animals/cat/1.png", png_bytes()))
    assert rejection(buffer).problems == [
        EntryProblem("animals/cat", "'animals/cat' is both a file and a folder")
    ]


def test_overlapping_entries_are_rejected() -> None:
    buffer = make_zip(("cat/1.png", png_bytes()), ("cat/2.png", png_bytes()))
    forged = patch_central_directory(buffer, "cat/2.png", 42, "<I", 0)
    assert rejection(forged).problems == [
        EntryProblem("cat/2.png", "overlaps the data of 'cat/1.png'")
    ]


def test_all_problems_are_reported_together() -> None:
    buffer = make_zip(
        ("../evil.png", b"x"),
        ("/abs.png", b"x"),
        ("cat/ok.png", png_bytes()),
        ("C:/drive.png", b"x"),
    )
    error = rejection(buffer)
    assert [problem.entry for problem in error.problems] == [
        "../evil.png",
        "/abs.png",
        "C:/drive.png",
    ]
    assert str(error) == (
        "3 problems in the zip: '../evil.png': path traversal ('..') is not allowed;"
        " '/abs.png': absolute paths are not allowed;"
        " 'C:/drive.png': paths starting with a drive letter are not allowed"
    )


def test_problem_list_is_capped_but_counted() -> None:
    buffer = make_zip(*[(f"../{index}.png", b"x") for index in range(150)])
    error = rejection(buffer)
    assert len(error.problems) == 100
    assert error.total == 150
    assert str(error).startswith("150 problems in the zip: '../0.png': path traversal")
    assert str(error).endswith("; and 147 more")


def test_junk_is_ignored() -> None:
    buffer = make_zip(
        ("__MACOSX/", FOLDER),
        ("__MACOSX/cat/._1.png", b"resource fork"),
        ("cat/.DS_Store", b"x"),
        ("cat/._1.png", b"x"),
        ("Thumbs.db", b"x"),
        ("dog/desktop.ini", b"x"),
        ("cat/1.png", png_bytes()),
        ("dog/2.png", png_bytes()),
    )
    plan = accepted(buffer)
    assert [file.path for file in plan.files] == ["cat/1.png", "dog/2.png"]
    assert plan.folders == ["cat", "dog"]


def test_wrapper_folder_is_stripped() -> None:
    buffer = make_zip(
        ("flower_photos/", FOLDER),
        ("flower_photos/daisy/1.jpg", b"a"),
        ("flower_photos/roses/2.jpg", b"b"),
        ("__MACOSX/flower_photos/daisy/._1.jpg", b"junk"),
    )
    plan = accepted(buffer)
    assert [(file.entry, file.path, file.folder, file.name) for file in plan.files] == [
        ("flower_photos/daisy/1.jpg", "daisy/1.jpg", "daisy", "1.jpg"),
        ("flower_photos/roses/2.jpg", "roses/2.jpg", "roses", "2.jpg"),
    ]
    assert plan.folders == ["daisy", "roses"]


def test_nested_wrappers_are_stripped_down_to_the_split_folder() -> None:
    buffer = make_zip(("project/data/train/cat/1.png", b"a"), ("project/data/val/dog/2.png", b"b"))
    plan = accepted(buffer)
    assert [file.path for file in plan.files] == ["train/cat/1.png", "val/dog/2.png"]
    assert plan.folders == ["train", "train/cat", "val", "val/dog"]


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([("cat/1.jpg", b"a")], ["cat/1.jpg"]),
        ([("train/cat/1.jpg", b"a")], ["train/cat/1.jpg"]),
        (
            [("animals/1.png", b"a"), ("animals/cat/2.png", b"b")],
            ["animals/1.png", "animals/cat/2.png"],
        ),
        ([("cat/1.png", b"a"), ("dog/2.png", b"b")], ["cat/1.png", "dog/2.png"]),
        ([("1.png", b"a"), ("cat/2.png", b"b")], ["1.png", "cat/2.png"]),
    ],
)
def test_folders_that_are_labels_or_splits_are_kept(
    entries: list[tuple[str, bytes]], expected: list[str]
) -> None:
    plan = accepted(make_zip(*entries))
    assert [file.path for file in plan.files] == expected


def test_empty_folders_and_all_ancestors_are_kept() -> None:
    buffer = make_zip(
        ("data/", FOLDER),
        ("data/cat/", FOLDER),
        ("data/dog/", FOLDER),
        ("data/cat/1.png", png_bytes()),
        ("data/birds/small/wren/2.png", png_bytes()),
    )
    plan = accepted(buffer)
    assert plan.folders == ["birds", "birds/small", "birds/small/wren", "cat", "dog"]
    assert [file.path for file in plan.files] == ["cat/1.png", "birds/small/wren/2.png"]


def test_nested_empty_folder_entries_bring_their_ancestors() -> None:
    buffer = make_zip(("cat/empty/deeper/", FOLDER), ("dog/1.png", png_bytes()))
    plan = accepted(buffer)
    assert plan.folders == ["cat", "cat/empty", "cat/empty/deeper", "dog"]


def test_backslash_names_become_folders() -> None:
    plan = accepted(make_zip(("cat\\1.png", png_bytes()), ("dog\\2.png", png_bytes())))
    assert [(file.entry, file.path) for file in plan.files] == [
        ("cat\\1.png", "cat/1.png"),
        ("dog\\2.png", "dog/2.png"),
    ]


def test_read_returns_the_entry_bytes() -> None:
    red, blue = png_bytes((255, 0, 0)), png_bytes((0, 0, 255))
    for compression in (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED):
        with accepted(
            make_zip(("a/1.png", red), ("b/2.png", blue), compression=compression)
        ) as plan:
            assert [plan.read(file) for file in plan.files] == [red, blue]


def test_read_after_close_fails() -> None:
    plan = accepted(make_zip(("cat/1.png", png_bytes())))
    plan.close()
    with pytest.raises(ValueError, match="closed"):
        plan.read(plan.files[0])


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_read_refuses_an_entry_larger_than_its_forged_header(compression: int) -> None:
    real = bytes(range(256)) * 40
    buffer = make_zip(("cat/1.bmp", real), compression=compression)
    # Forge both the size and the CRC so that a reader trusting the header sees a valid file.
    forged = patch_central_directory(buffer, "cat/1.bmp", 24, "<I", 100)
    forged = patch_central_directory(forged, "cat/1.bmp", 16, "<I", zlib.crc32(real[:100]))
    plan = accepted(forged)
    assert plan.files[0].path == "cat/1.bmp"
    with pytest.raises(ZipRejected) as caught:
        plan.read(plan.files[0])
    assert caught.value.problems[0].entry == "cat/1.bmp"


def test_read_refuses_an_entry_smaller_than_its_header() -> None:
    real = bytes(range(256)) * 4
    forged = patch_central_directory(make_zip(("cat/1.bmp", real)), "cat/1.bmp", 24, "<I", 5000)
    plan = accepted(forged)
    with pytest.raises(ZipRejected) as caught:
        plan.read(plan.files[0])
    assert caught.value.problems == [
        EntryProblem("cat/1.bmp", "holds less data than its header declares")
    ]


def test_read_reports_a_crc_error_naming_the_entry() -> None:
    content = png_bytes()
    data = bytearray(make_zip(("cat/1.png", content), compression=zipfile.ZIP_STORED).getvalue())
    start = data.index(content)
    data[start + 20] ^= 0xFF
    plan = accepted(io.BytesIO(bytes(data)))
    with pytest.raises(ZipRejected) as caught:
        plan.read(plan.files[0])
    (problem,) = caught.value.problems
    assert problem.entry == "cat/1.png"
    assert problem.problem.startswith("is damaged: Bad CRC-32")


def test_documentation_files_are_skipped_and_listed_without_blocking_the_unwrapping() -> None:
    buffer = make_zip(
        ("flower_photos/", FOLDER),
        ("flower_photos/LICENSE.txt", b"CC-BY"),
        ("flower_photos/daisy/1.jpg", b"a"),
        ("flower_photos/daisy/README.md", b"# daisies"),
        ("flower_photos/roses/2.jpg", b"b"),
        ("flower_photos/roses/labels.CSV", b"2.jpg,roses"),
        ("flower_photos/.DS_Store", b"junk"),
    )
    plan = accepted(buffer)
    assert [file.path for file in plan.files] == ["daisy/1.jpg", "roses/2.jpg"]
    assert plan.folders == ["daisy", "roses"]
    assert plan.ignored == [
        IgnoredEntry("flower_photos/LICENSE.txt", DOCUMENTATION),
        IgnoredEntry("flower_photos/daisy/README.md", DOCUMENTATION),
        IgnoredEntry("flower_photos/roses/labels.CSV", DOCUMENTATION),
    ]


@pytest.mark.parametrize(
    "name",
    ["LICENSE", "LICENSE-MIT", "readme", "README.rst", "notes.txt", "meta.json", "a.yaml", "b.yml"],
)
def test_each_kind_of_documentation_file_is_skipped(name: str) -> None:
    plan = accepted(make_zip(("cat/1.png", png_bytes()), (f"cat/{name}", b"words")))
    assert [file.path for file in plan.files] == ["cat/1.png"]
    assert plan.ignored == [IgnoredEntry(f"cat/{name}", DOCUMENTATION)]


def test_images_named_like_documentation_are_still_images() -> None:
    buffer = make_zip(
        ("license_plate/1.jpg", b"a"), ("cat/README.png", b"b"), ("cat/licence.jpg", b"c")
    )
    plan = accepted(buffer)
    assert [file.path for file in plan.files] == [
        "license_plate/1.jpg",
        "cat/README.png",
        "cat/licence.jpg",
    ]
    assert plan.ignored == []


@pytest.mark.parametrize("name", ["evil.svg", "x.exe", "cat/archive.tar", "cat/noextension"])
def test_files_that_are_not_documentation_stay_candidates_to_be_judged(name: str) -> None:
    plan = accepted(make_zip(("cat/1.png", png_bytes()), (name, b"payload")))
    assert name in [file.entry for file in plan.files]
    assert plan.ignored == []


def test_a_readme_that_is_a_zip_bomb_is_still_refused() -> None:
    buffer = make_zip(("README.md", bytes(2 * 2**20)), ("cat/1.png", png_bytes()))
    (problem,) = rejection(buffer).problems
    assert problem.entry == "README.md"
    assert problem.problem.endswith("(possible zip bomb)")


def test_documentation_names_do_not_excuse_unsafe_entries() -> None:
    link = zipfile.ZipInfo("cat/LICENSE.txt")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    buffer = make_zip(("../README.md", b"x"), (link, b"/etc/passwd"), ("cat/1.png", png_bytes()))
    problems = rejection(buffer).problems
    assert [problem.entry for problem in problems] == ["../README.md", "cat/LICENSE.txt"]
    assert "traversal" in problems[0].problem
    assert problems[1].problem == "symbolic links are not allowed"


def test_a_zip_of_documentation_only_has_no_images() -> None:
    buffer = make_zip(("README.md", b"x"), ("cat/", FOLDER))
    assert rejection(buffer).problems == [
        EntryProblem("", "the zip contains no images, only ignored files (README.md)")
    ]
