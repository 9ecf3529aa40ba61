"""The search space and what each candidate would cost on the board, before any training.

Pure: no FastAPI, SQLAlchemy or TensorFlow. A candidate is an architecture × alpha × input size
× colour mode of the catalog (training/catalog.py). Its RAM and flash are the catalog's
footprint estimate put through the board's fit (hardware/footprint.py: `fit` for
TFLite-Micro), or for the C engine its own plan, weights and code (search/c_engine_figures.py,
`fit_c`); its latency is its MAC count (search/macs.py) × cycles per MAC / the board's clock.
Candidates that would not fit with the requested margin, or would be slower than
`max_latency_ms`, are dropped here, each with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from tinymlaas.contracts import COLOR_MODES, ColorMode, Engine, Weights, channels_of
from tinymlaas.engine.baremetal_cores import EMULATED_CORES
from tinymlaas.hardware import footprint
from tinymlaas.hardware.boards import Board
from tinymlaas.search import c_engine_figures
from tinymlaas.search.macs import count_macs
from tinymlaas.training import catalog

DEFAULT_INPUT_SIZES = (32, 48, 64, 96)
# Cycles one int8 MAC takes on a Cortex-M4, loop, pointer and requantization overhead included.
# Measured for the C engine (bench/model_search.py --calibrate, 2026-12-01: the generated C of
# untrained int8 models at 32-48 px run under QEMU, instructions x 1.2 CPI / MACs): cnn-small
# α1 16.1, cnn-small α0.5 23.6 (few channels: per-pixel overhead dominates), mobilenet-v1 α0.25
# 8.9, mobilenet-v2 α0.1 16.4; we take 16. TFLite-Micro's reference kernels do the same
# arithmetic (the C engine mirrors them) and are given the same figure; the interpreter's
# per-operator overhead is not modelled. Other cores scale by their cycles per instruction
# relative to the M4 (engine/baremetal_cores.py); cores without an emulator use the M4's
# figure, except the M0+ (no single-cycle 32-bit multiply-accumulate: twice as many).
CYCLES_PER_MAC: dict[Engine, float] = {"tflm": 16.0, "c": 16.0}
_M0PLUS_FACTOR = 2.0
LATENCY_BASIS = (
    "MACs of one inference (counted layer by layer) × {cycles:g} cycles per MAC (measured for"
    " the C engine on a Cortex-M4 under QEMU, scaled by the core's cycles per instruction) /"
    " the board's clock; the C engine's measured instructions replace it once compiled"
)

DropReason = Literal["ram", "flash", "latency", "sampling"]


@dataclass(frozen=True)
class CandidateSpec:
    architecture: str
    alpha: float
    input_size: int
    color_mode: ColorMode
    weights: Weights = "none"

    @property
    def label(self) -> str:
        size = self.input_size
        label = f"{self.architecture} α{self.alpha:g} {size}×{size} {self.color_mode}"
        if self.weights == "none":
            return label
        start = "ImageNet" if self.weights == "imagenet" else f"base {self.weights}"
        return f"{label} from {start}"


@dataclass(frozen=True)
class Assessment:
    """A candidate's expected cost on the board and, when it is dropped, why."""

    spec: CandidateSpec
    ram_bytes: int
    flash_bytes: int
    macs: int
    latency_ms: float | None
    drop_reason: str | None


def enumerate_space(
    architectures: list[str] | None = None,
    input_sizes: list[int] | None = None,
    color_modes: list[ColorMode] | None = None,
) -> list[CandidateSpec]:
    """Every catalog architecture × alpha × input size × colour mode asked for (all by
    default), in catalog order; sizes outside an architecture's limits are left out."""
    chosen = architectures or list(catalog.ARCHITECTURES)
    unknown = [name for name in chosen if name not in catalog.ARCHITECTURES]
    if unknown:
        known = ", ".join(catalog.ARCHITECTURES)
        raise catalog.InvalidTrainingConfig(
            "architectures", f"unknown architecture(s) {', '.join(unknown)}; known: {known}"
        )
    sizes = input_sizes or list(DEFAULT_INPUT_SIZES)
    modes = color_modes or list(COLOR_MODES)
    return [
        CandidateSpec(arch.id, alpha, size, mode)
        for arch in (catalog.ARCHITECTURES[name] for name in chosen)
        for alpha in arch.alphas
        for size in sizes
        if arch.min_input <= size <= arch.max_input
        for mode in modes
    ]


def with_weights(
    specs: list[CandidateSpec],
    options: list[Weights],
    usable: Callable[[CandidateSpec, Weights], bool],
) -> list[CandidateSpec]:
    """Each spec once per starting weights it can use; a spec none of the (non-random)
    options can start trains from random weights instead (cnn-small has no ImageNet weights)."""
    expanded: list[CandidateSpec] = []
    for spec in specs:
        chosen = [w for w in options if w == "none" or usable(spec, w)] or ["none"]
        expanded.extend(replace(spec, weights=w) for w in chosen)
    return expanded


def cycles_per_mac(board: Board, engine: Engine) -> float:
    base = CYCLES_PER_MAC[engine]
    if board.core == "cortex-m0plus":
        return base * _M0PLUS_FACTOR
    core = EMULATED_CORES.get(board.core)
    reference = EMULATED_CORES["cortex-m4f"].cycles_per_instruction
    return base if core is None else base * core.cycles_per_instruction / reference


def latency_ms(macs: int, board: Board, engine: Engine) -> float | None:
    """The estimated latency of one inference; None for a board without a fixed clock."""
    if board.clock_mhz <= 0:
        return None
    return round(macs * cycles_per_mac(board, engine) / (board.clock_mhz * 1000.0), 3)


def assess(
    spec: CandidateSpec,
    board: Board,
    engine: Engine,
    num_classes: int,
    ram_margin: float,
    max_latency_ms: float | None,
) -> Assessment:
    """Estimate the candidate's RAM, flash and latency on the board; drop it if it does not
    fit with `ram_margin` of the board's RAM and flash left free, or is too slow."""
    channels = channels_of(spec.color_mode)
    size = spec.input_size
    estimate = catalog.estimate(spec.architecture, spec.alpha, size, size, channels, num_classes)
    figures = (
        c_engine_figures.figures(spec.architecture, spec.alpha, size, channels, num_classes)
        if engine == "c"
        else None
    )
    if figures is not None:
        verdict = footprint.fit_c(
            board,
            weights_bytes=figures.weights_bytes,
            activation_bytes=figures.activation_bytes,
            input_bytes=estimate.input_bytes,
            channels=channels,
            estimated=footprint.EngineEstimate(figures.code_bytes, figures.stack_bytes),
        )
    elif engine == "c":
        # Not recorded: the .tflite's bytes bound its weights and the whole TFLite-Micro arena
        # bounds its activation buffer (both over-estimate).
        verdict = footprint.fit_c(
            board,
            weights_bytes=estimate.flash_bytes,
            activation_bytes=estimate.arena_bytes,
            input_bytes=estimate.input_bytes,
            channels=channels,
        )
    else:
        verdict = footprint.fit(
            board,
            model_bytes=estimate.flash_bytes,
            arena_bytes=estimate.arena_bytes,
            input_bytes=estimate.input_bytes,
            channels=channels,
        )
    macs = count_macs(spec.architecture, spec.alpha, size, size, channels, num_classes)
    latency = latency_ms(macs, board, engine)
    reason = drop_reason(board, verdict.ram_bytes, verdict.flash_bytes, ram_margin)
    too_slow = max_latency_ms is not None and latency is not None and latency > max_latency_ms
    if reason is None and too_slow:
        reason = f"estimated latency {latency:.1f} ms is over max_latency_ms {max_latency_ms:g}"
    return Assessment(spec, verdict.ram_bytes, verdict.flash_bytes, macs, latency, reason)


def drop_reason(board: Board, ram_bytes: int, flash_bytes: int, margin: float) -> str | None:
    """Why RAM/flash of `ram_bytes`/`flash_bytes` do not fit the board leaving `margin` free."""
    problems = []
    for what, needed, limit in (
        ("RAM", ram_bytes, board.ram_bytes),
        ("flash", flash_bytes, board.flash_bytes),
    ):
        allowed = int(limit * (1 - margin))
        if needed > allowed:
            problems.append(
                f"needs {needed:,} B of {what}; {board.name} has {limit:,} B,"
                f" {allowed:,} B with a {margin:.0%} margin"
            )
    return "; ".join(problems) or None


def sample(assessed: list[Assessment], limit: int) -> tuple[list[Assessment], list[Assessment]]:
    """Keep at most `limit` fitting candidates spread evenly from the cheapest to the costliest
    (by MACs); return (kept, left out). Deterministic: the same space gives the same pick."""
    fitting = sorted(
        (item for item in assessed if item.drop_reason is None),
        key=lambda item: (item.macs, item.spec.label),
    )
    if len(fitting) <= limit:
        return fitting, []
    if limit == 1:
        picks = {len(fitting) - 1}
    else:
        picks = {round(index * (len(fitting) - 1) / (limit - 1)) for index in range(limit)}
    kept = [item for index, item in enumerate(fitting) if index in picks]
    left = [item for index, item in enumerate(fitting) if index not in picks]
    return kept, left
