"""How the CLI writes sizes: binary units, the same strings as the web UI."""

from __future__ import annotations

import pytest
from rich.progress import Progress

from tinymlaas.cli import formatting
from tinymlaas.cli.progress import TransferredColumn


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (None, "-"),
        (0, "0 B"),
        (1000, "1000 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (93_800, "91.6 KiB"),
        (262_144, "256.0 KiB"),
        (5_767_168, "5.5 MiB"),
        (1_288_490_189, "1.2 GiB"),
        (12_000_000_000, "11.2 GiB"),
    ],
)
def test_sizes_are_in_binary_units_with_one_decimal(count: int | None, shown: str) -> None:
    assert formatting.size(count) == shown


def test_transfer_bars_count_in_the_same_units() -> None:
    progress = Progress(TransferredColumn())
    progress.add_task("Uploading pets.zip", total=5_767_168, completed=1_572_864)
    progress.add_task("Downloading", total=None, completed=93_800)

    shown = [str(TransferredColumn().render(task)) for task in progress.tasks]

    assert shown == ["1.5 MiB / 5.5 MiB", "91.6 KiB / ?"]


def test_memory_parts_read_the_labelled_parts_and_add_up() -> None:
    from tinymlaas.hardware.boards import get_board
    from tinymlaas.hardware.footprint import fit

    detail = fit(
        get_board("esp32-s3-eye"), model_bytes=300_000, arena_bytes=100_000, input_bytes=9216
    ).detail
    text = formatting.flash_parts(detail["flash"])
    assert "reserved outside the app partition" in text
    assert "runtime code" in text
    assert [part["label"] for part in detail["ram"]["parts"]][0] in formatting.ram_parts(
        detail["ram"]
    )
    total = sum(part["bytes"] for part in detail["flash"]["parts"])
    assert total == detail["flash"]["estimate_bytes"]


def test_memory_parts_of_figures_stored_before_the_labels() -> None:
    ram = {"arena_with_margin_bytes": 2048, "input_buffer_bytes": 1024, "runtime_bytes": 4096}
    assert formatting.ram_parts(ram) == "arena 2.0 KiB + input 1.0 KiB + runtime 4.0 KiB"
    assert (
        formatting.flash_parts({"model_bytes": 100, "runtime_bytes": 2048})
        == "model 100 B + runtime 2.0 KiB"
    )
