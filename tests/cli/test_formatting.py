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
