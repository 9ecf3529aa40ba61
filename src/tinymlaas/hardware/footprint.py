"""Does a model fit a board? RAM and flash estimates against the board's limits (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tinymlaas.contracts import Measured
from tinymlaas.hardware.boards import Board

# The C engine's code in flash (kernels, tml_invoke, the operators' tables) until it is measured
# on the board's core: the engine's goal, at most 24 KiB on Cortex-M4 (issue 12).
C_ENGINE_CODE_ESTIMATE_BYTES = 24 * 1024
# TFLite-Micro's own library in flash, 15 operators with reference kernels, built for Cortex-M4
# (measured outside the project for issue 12: 90.6 KB). The boards' runtime code estimates
# include it; a sketch running the C engine does not link it.
TFLM_LIBRARY_FLASH_BYTES = 90_600


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
class EngineEstimate:
    """The C engine's code and stack before the program is measured on its core."""

    code_bytes: int
    stack_bytes: int


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


def fit_c(
    board: Board,
    *,
    weights_bytes: int,
    activation_bytes: int,
    input_bytes: int,
    channels: int = 1,
    measured: Measured | None = None,
    estimated: EngineEstimate | None = None,
) -> FitVerdict:
    """The C engine's fit. RAM = the planned activation buffer (+ the estimated stack) + input
    buffer (or the program's RAM measured on the core) + runtime + camera frame; flash =
    weights + engine code (estimated from the operators, else 24 KiB; or the program's flash
    measured on the core) + the board's code without TFLite-Micro + reserved."""
    frame = board.frame_buffer_for(channels)
    core_code = max(board.runtime_flash_bytes - TFLM_LIBRARY_FLASH_BYTES, 0)
    if measured is None:
        engine_ram: list[tuple[str, int, bool]] = [
            ("activation buffer (C engine plan)", activation_bytes, True),
            ("stack (estimate until measured)", estimated.stack_bytes if estimated else 0, False),
            ("input buffer", input_bytes, True),
        ]
        code = (
            ("C engine code (estimate from its operators)", estimated.code_bytes, True)
            if estimated is not None
            else ("C engine code (estimate until measured)", C_ENGINE_CODE_ESTIMATE_BYTES, True)
        )
        engine_flash: list[tuple[str, int, bool]] = [
            ("model weights and constants", weights_bytes, True),
            code,
        ]
    else:
        on = f"measured on {measured.core}"
        engine_ram = [
            (f"model program RAM with stack ({on})", measured.ram_bytes, True),
            ("input buffer", input_bytes, True),
        ]
        engine_flash = [
            (f"model weights and constants ({on})", measured.weights_bytes, True),
            (f"C engine code ({on})", measured.code_bytes, True),
        ]
    ram_parts = _parts(
        *engine_ram,
        ("runtime (core globals, stacks, buffers; estimate)", board.runtime_ram_bytes, True),
        ("camera frame buffer", frame, False),
    )
    flash_parts = _parts(
        *engine_flash,
        ("board code without TFLite-Micro (core, camera driver, sketch; estimate)",
         core_code, True),
        ("reserved outside the app partition", board.reserved_flash_bytes, False),
    )  # fmt: skip
    return _verdict(board, ram_parts, flash_parts, _c_basis(measured, estimated is not None))


def _c_basis(measured: Measured | None, code_from_operators: bool = False) -> str:
    if measured is None:
        code = (
            "engine code and stack estimated from its operators (engine/code_size.py)"
            if code_from_operators
            else f"engine code estimated at {C_ENGINE_CODE_ESTIMATE_BYTES:,} B"
        )
        engine = (
            "activation buffer planned by the C engine (exact: one static buffer); weights"
            f" counted from the generated C; {code} until measured on the board's core"
        )
    else:
        engine = (
            f"model program flash and RAM (stack high-water mark included) measured on"
            f" {measured.core} under QEMU"
        )
    return (
        f"{engine}; runtime RAM and the board's code are per-board estimates (the code less"
        f" TFLite-Micro's library, {TFLM_LIBRARY_FLASH_BYTES:,} B); reserved flash is the"
        " board's partition layout"
    )


def _verdict(
    board: Board, ram_parts: list[dict[str, Any]], flash_parts: list[dict[str, Any]], basis: str
) -> FitVerdict:
    ram = sum(part["bytes"] for part in ram_parts)
    flash = sum(part["bytes"] for part in flash_parts)
    ram_ok, flash_ok = ram <= board.ram_bytes, flash <= board.flash_bytes
    problems = []
    if not ram_ok:
        problems.append(f"needs {ram:,} B of RAM, the board has {board.ram_bytes:,} B")
    if not flash_ok:
        problems.append(f"needs {flash:,} B of flash, the board has {board.flash_bytes:,} B")
    detail = {
        "board": board.id,
        "engine": "c",
        "ram": {
            "estimate_bytes": ram,
            "limit_bytes": board.ram_bytes,
            "fits": ram_ok,
            "parts": ram_parts,
        },
        "flash": {
            "estimate_bytes": flash,
            "limit_bytes": board.flash_bytes,
            "fits": flash_ok,
            "parts": flash_parts,
        },
        "summary": "fits" if not problems else "does not fit: " + "; ".join(problems),
        "basis": basis,
    }
    return FitVerdict(ram_ok and flash_ok, ram, flash, detail)
