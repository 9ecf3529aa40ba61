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


def _parts(*parts: tuple[str, int, bool]) -> list[dict[str, Any]]:
    """The labelled parts of an estimate, in order; optional ones only when they take bytes."""
    return [{"label": label, "bytes": size} for label, size, always in parts if always or size > 0]


def fit(
    board: Board, *, model_bytes: int, arena_bytes: int, input_bytes: int, channels: int = 1
) -> FitVerdict:
    """RAM = arena (+ margin) + input buffer + runtime + camera frame; flash = model + runtime
    code + what is reserved outside the app partition. `detail["ram"|"flash"]["parts"]` labels
    each part for what it is."""
    arena = tensor_arena_bytes(arena_bytes)
    frame = board.frame_buffer_for(channels)
    ram = arena + input_bytes + board.runtime_ram_bytes + frame
    flash = model_bytes + board.runtime_flash_bytes + board.reserved_flash_bytes
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
            "runtime_bytes": board.runtime_ram_bytes,
            "frame_buffer_bytes": frame,
            "parts": _parts(
                ("tensor arena (with margin)", arena, True),
                ("input buffer", input_bytes, True),
                ("runtime (core globals, stacks, buffers)", board.runtime_ram_bytes, True),
                ("camera frame buffer", frame, False),
            ),
        },
        "flash": {
            "estimate_bytes": flash,
            "limit_bytes": board.flash_bytes,
            "fits": flash_ok,
            "model_bytes": model_bytes,
            "runtime_bytes": board.runtime_flash_bytes,
            "reserved_bytes": board.reserved_flash_bytes,
            "parts": _parts(
                ("model", model_bytes, True),
                (
                    "runtime code (core, TFLite-Micro, camera driver, sketch)",
                    board.runtime_flash_bytes,
                    True,
                ),
                ("reserved outside the app partition", board.reserved_flash_bytes, False),
            ),
        },
        "summary": "fits" if not problems else "does not fit: " + "; ".join(problems),
        "basis": (
            "arena measured in the TFLite-Micro interpreter + 10% + 1 KiB for optimized"
            " kernels' scratch buffers (the arena the generated sketch allocates); runtime,"
            " camera frame and runtime code are per-board estimates; reserved flash is the"
            " board's partition layout"
        ),
    }
    return FitVerdict(ram_ok and flash_ok, ram, flash, detail)
