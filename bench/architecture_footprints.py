"""Measure each catalog architecture's int8 footprint and check `catalog.estimate` against it.

For every (architecture, alpha) the script builds the model from scratch (seed 0), sets its
BatchNorm statistics from 32 random images (an untrained MobileNet otherwise exports scales that
abort TFLite-Micro), converts it to full int8 (optimizations DEFAULT, 20 random representative
images) and measures the tensor arena with the product's own code (`tinymlaas.compiling.tflite`
and `tinymlaas.compiling.tflm`, as a compiling job does): the arena total, head (non-persistent:
the activation plan) and tail (persistent: tensors, op data, per-channel quantization).

    .venv/bin/python bench/architecture_footprints.py                 # 96×96×1, 3 classes
    .venv/bin/python bench/architecture_footprints.py --check         # + estimate vs measured
    .venv/bin/python bench/architecture_footprints.py --check --architectures cnn-small

The first table is what catalog.py's `footprints` hold (pasted with the date); `--check`
measures other sizes, channels and class counts and prints the estimate's relative error.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinymlaas.compiling import tflite, tflm
from tinymlaas.training.catalog import ARCHITECTURES, estimate

REFERENCE_SIZE = 96
REFERENCE_CLASSES = 3
# (width, height, channels, classes) the estimate is checked against with --check.
CHECK_SHAPES = (
    (64, 64, 1, 3),
    (128, 128, 1, 3),
    (96, 96, 3, 3),
    (64, 64, 3, 10),
    (160, 120, 1, 5),
)
# Edge Impulse's published int8 96×96 estimates (RAM excludes the input buffer), in bytes.
EDGE_IMPULSE = {
    ("mobilenet-v1", 0.1): (53_200, 101_000),
    ("mobilenet-v1", 0.25): (105_900, 301_600),
    ("mobilenet-v2", 0.35): (296_800, 575_200),
}
_ARENA_LINE = re.compile(r"Arena allocation (head|tail) (\d+) bytes")


@dataclass(frozen=True)
class ArenaMeasurement:
    """TFLite-Micro arena use after one invoke: total = head (activations) + tail (persistent)."""

    total_bytes: int
    head_bytes: int
    tail_bytes: int


@dataclass(frozen=True)
class Measurement:
    """One architecture built, converted and measured at one input shape and class count."""

    architecture: str
    alpha: float
    width: int
    height: int
    channels: int
    num_classes: int
    parameters: int
    tflite_bytes: int
    arena: ArenaMeasurement


def random_images(count: int, height: int, width: int, channels: int, seed: int) -> np.ndarray:
    """Return `count` float32 images of uniform random raw pixel values 0–255."""
    generator = np.random.default_rng(seed)
    return generator.uniform(0, 255, (count, height, width, channels)).astype(np.float32)


def convert_int8(model: Any, representative: np.ndarray) -> bytes:
    """Convert a Keras model to full-int8 TFLite as the compiling job does."""
    # Keras' export prints every captured variable on stdout; keep the table readable.
    with contextlib.redirect_stdout(io.StringIO()):
        return tflite.convert(model, "int8", representative)


def measure_arena(model_bytes: bytes) -> ArenaMeasurement:
    """The arena the compiling job records, split into head and tail by the same recorder.

    The total is `tflm.measure_arena`'s; the head/tail split (catalog.py keeps the tail) comes
    from the allocation report of the runtime the product loads, after one invoke.
    """
    total = tflm.measure_arena(model_bytes)
    if total.method != "print_allocations":
        raise RuntimeError("TFLite-Micro's allocation report could not be read")
    interpreter = tflm._load(model_bytes, tflm.MEASUREMENT_ARENA_BYTES)
    tflm._invoke_zeros(interpreter)
    with tflm._capture_stderr() as captured:
        interpreter.print_allocations()
    values = {kind: int(number) for kind, number in _ARENA_LINE.findall(captured.text)}
    if set(values) != {"head", "tail"} or values["head"] + values["tail"] != total.arena_bytes:
        raise RuntimeError(f"unexpected TFLite-Micro allocation report: {captured.text[-500:]!r}")
    return ArenaMeasurement(total.arena_bytes, values["head"], values["tail"])


def measure(
    architecture: str,
    alpha: float,
    width: int,
    height: int,
    channels: int,
    num_classes: int,
    seed: int = 0,
) -> Measurement:
    """Build, calibrate, convert and measure one configuration."""
    from tinymlaas.training.architectures import build_model, recalibrate_batch_norm

    model = build_model(architecture, alpha, (height, width, channels), num_classes, seed=seed)
    recalibrate_batch_norm(model, random_images(32, height, width, channels, seed))
    model_bytes = convert_int8(model, random_images(20, height, width, channels, seed + 1))
    return Measurement(
        architecture=architecture,
        alpha=alpha,
        width=width,
        height=height,
        channels=channels,
        num_classes=num_classes,
        parameters=int(model.count_params()),
        tflite_bytes=len(model_bytes),
        arena=measure_arena(model_bytes),
    )


def _kilobytes(value: int) -> str:
    return f"{value / 1000:8.1f}"


def _print_reference_table(rows: list[tuple[Measurement, Measurement]]) -> None:
    """Print the 96×96 table (grayscale, plus the RGB arena) and the literal for catalog.py."""
    print(
        f"\nint8 at {REFERENCE_SIZE}×{REFERENCE_SIZE}×1, {REFERENCE_CLASSES} classes (KB = 1000 B)"
    )
    print(
        f"{'architecture':<14}{'alpha':>6}{'params':>10}{'tflite KB':>11}"
        f"{'arena KB':>10}{'head KB':>9}{'tail KB':>9}{'×3 arena':>10}"
        "   Edge Impulse RAM/flash KB"
    )
    for row, rgb in rows:
        reference = EDGE_IMPULSE.get((row.architecture, row.alpha))
        published = f"{reference[0] / 1000:.1f} / {reference[1] / 1000:.1f}" if reference else ""
        print(
            f"{row.architecture:<14}{row.alpha:>6g}{row.parameters:>10,}"
            f"{_kilobytes(row.tflite_bytes):>11}{_kilobytes(row.arena.total_bytes):>10}"
            f"{_kilobytes(row.arena.head_bytes):>9}{_kilobytes(row.arena.tail_bytes):>9}"
            f"{_kilobytes(rgb.arena.total_bytes):>10}   {published}"
        )
    print("\nfor catalog.py:")
    for row, rgb in rows:
        print(
            f"    {row.alpha!r}: Footprint({row.parameters}, {row.tflite_bytes}, "
            f"{row.arena.total_bytes}, {row.arena.tail_bytes}, "
            f"{rgb.arena.total_bytes - row.arena.total_bytes}),  # {row.architecture}"
        )


def _relative_error(estimated: int, measured: int) -> float:
    return (estimated - measured) / measured


def _check_estimates(architectures: list[str]) -> float:
    """Measure CHECK_SHAPES, print estimate vs measurement, return the worst arena error."""
    print("\nestimate vs measured (error = (estimate − measured) / measured)")
    print(
        f"{'architecture':<14}{'alpha':>6}{'shape':>14}{'cls':>4}"
        f"{'params err':>11}{'tflite err':>11}{'arena est':>10}{'arena real':>11}{'arena err':>10}"
    )
    worst = 0.0
    for architecture in architectures:
        for alpha in ARCHITECTURES[architecture].alphas:
            for width, height, channels, classes in CHECK_SHAPES:
                real = measure(architecture, alpha, width, height, channels, classes)
                guess = estimate(architecture, alpha, width, height, channels, classes)
                arena_error = _relative_error(guess.arena_bytes, real.arena.total_bytes)
                worst = max(worst, abs(arena_error))
                print(
                    f"{architecture:<14}{alpha:>6g}{f'{width}×{height}×{channels}':>14}"
                    f"{classes:>4}"
                    f"{_relative_error(guess.parameters, real.parameters):>+11.2%}"
                    f"{_relative_error(guess.flash_bytes, real.tflite_bytes):>+11.2%}"
                    f"{guess.arena_bytes:>10,}{real.arena.total_bytes:>11,}{arena_error:>+10.2%}",
                    flush=True,
                )
    print(f"worst arena error: {worst:.2%}")
    return worst


def main(argv: list[str] | None = None) -> None:
    """Print the reference footprint table and, with --check, the estimate's error."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--architectures",
        default=",".join(ARCHITECTURES),
        help="comma-separated catalog ids (default: all)",
    )
    parser.add_argument("--check", action="store_true", help="also check catalog.estimate")
    arguments = parser.parse_args(argv)
    architectures = [name for name in arguments.architectures.split(",") if name]
    started = time.perf_counter()
    rows = []
    for architecture in architectures:
        for alpha in ARCHITECTURES[architecture].alphas:
            gray, rgb = (
                measure(architecture, alpha, REFERENCE_SIZE, REFERENCE_SIZE, channels, 3)
                for channels in (1, 3)
            )
            rows.append((gray, rgb))
            print(f"measured {architecture} α{alpha:g}", file=sys.stderr, flush=True)
    _print_reference_table(rows)
    if arguments.check:
        _check_estimates(architectures)
    print(f"\n{time.strftime('%Y-%m-%d')}, {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
