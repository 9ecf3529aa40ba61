"""The pages' filters: sizes in binary units (as the CLI writes them) and plurals."""

from __future__ import annotations

from tinymlaas.web.rendering import filesize, plural


def test_sizes_are_written_in_binary_units_as_the_cli_writes_them() -> None:
    assert filesize(812) == "812 B"
    assert filesize(1023) == "1023 B"
    assert filesize(1024) == "1.0 KiB"
    assert filesize(93_800) == "91.6 KiB"
    assert filesize(5_767_168) == "5.5 MiB"
    assert filesize(1_288_490_189) == "1.2 GiB"
    assert filesize(None) == "—"


def test_a_count_agrees_with_its_word() -> None:
    assert plural(1, "label") == "1 label"
    assert plural(3, "label") == "3 labels"
    assert plural(0, "image") == "0 images"
    assert plural(2, "test image") == "2 test images"
