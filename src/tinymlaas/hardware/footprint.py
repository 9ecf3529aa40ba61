"""Does a model fit a board? RAM and flash estimates against the board's limits (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tinymlaas.hardware.boards import Board


def tensor_arena_bytes(measured_arena_bytes: int) -> int:
    """Return the arena a board gets: measured + 10% + 1 KiB, rounded up to 16 bytes.

    The measurement uses TFLite-Micro's reference kernels; optimized kernels (CMSIS-NN,
    ESP-NN) allocate extra scratch buffers, and the margin keeps them from failing.
    """
    if measured_arena_bytes <= 0:
        raise ValueError("the measured arena must be positive")
    padded = math.ceil(measured_arena_bytes * 1.10) + 1024
    return (padded + 15) // 16 * 16


@dataclass(frozen=True)
class FitVerdict:
    fits: bool
    ram_bytes: int
    flash_bytes: int
    detail: dict[str, Any]


def fit(
    board: Board, *, model_bytes: int, arena_bytes: int, input_bytes: int, channels: int = 1
) -> FitVerdict:
    """RAM = arena (+ margin) + input buffer + the board's runtime; flash = model + runtime."""
    arena = tensor_arena_bytes(arena_bytes)
    runtime_ram = board.runtime_ram_for(channels)
    ram = arena + input_bytes + runtime_ram
    flash = model_bytes + board.runtime_flash_bytes
    ram_ok, flash_ok = ram <= board.ram_bytes, flash <= board.flash_bytes
    problems = []
    if not ram_ok:
        problems.append(f"needs {ram:,} B of RAM, the board has {board.ram_bytes:,} B")
    if not flash_ok:
        problems.append(f"needs {flash:,} B of flash, the board has {board.flash_bytes:,} B")
    detail = {
        "board": board.id,
        "ram": {
            "estimate_bytes": ram,
            "limit_bytes": board.ram_bytes,
            "fits": ram_ok,
            "arena_measured_bytes": arena_bytes,
            "arena_with_margin_bytes": arena,
            "input_buffer_bytes": input_bytes,
            "runtime_bytes": runtime_ram,
        },
        "flash": {
            "estimate_bytes": flash,
            "limit_bytes": board.flash_bytes,
            "fits": flash_ok,
            "model_bytes": model_bytes,
            "runtime_bytes": board.runtime_flash_bytes,
        },
        "summary": "fits" if not problems else "does not fit: " + "; ".join(problems),
        "basis": (
            "arena measured in the TFLite-Micro interpreter + 10% + 1 KiB for optimized"
            " kernels' scratch buffers (the arena the generated sketch allocates); runtime"
            " figures are per-board estimates from the board catalog (GET /boards)"
        ),
    }
    return FitVerdict(ram_ok and flash_ok, ram, flash, detail)
