"""The C engine's own figures for a search's candidates, before any training (pure).

What the search needs of a candidate compiled with `engine: "c"` is the generated C's: its one
activation buffer (the planner's peak, in-place operators included), its weights and
requantization constants as the generated C lays them out, and its code (from its operators:
engine/code_size.py). Training changes the weights' values, not their shapes, the operators
or the plan, so these are the untrained model's. They come from the engine itself: every
catalog architecture × alpha × colour mode at the search's default input sizes, built
untrained, converted to int8 as the compile job does and put through engine/codegen.py, by
`bench/c_engine_footprints.py` (2026-12-01, again after 3×3 depthwise and one-channel first
convolutions took filters packed at generation: their weights and constants changed, the
plans did not; the API process never imports TensorFlow, so the figures are recorded here
rather than computed per request). That day 56 of the 80 were generated again; the other 24
(MobileNet v1 α0.25/0.5 and MobileNetV2 above 32 px) were generated on 2026-12-02 and equal
what was recorded for them, so every line is the engine's own.

- With another number of classes than the recorded 3, the classifier's weights and its
  per-channel constants change by (features + 8) bytes a class (measured on cnn-small α0.5:
  3, 4 and 10 classes give the same per-class step; the classifier is the same layer in
  every architecture).
- At an input size between or beyond the recorded ones, the activation buffer is the
  nearest recorded size's scaled by the pixel count (each side rounded up to even: stride-2
  layers round up), rounded up to 16 bytes, and its operators are that size's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tinymlaas.engine import code_size
from tinymlaas.search.macs import feature_channels

RECORDED_CLASSES = 3
# One line per untrained model: architecture, alpha, channels, input size, activation buffer
# (B), weights and constants (B), operators running in place, then its operators, each a
# letter of OPERATOR_CODES and a count.
OPERATOR_CODES = {
    "C": "CONV_2D",
    "D": "DEPTHWISE_CONV_2D",
    "A": "ADD",
    "M": "MUL",
    "P": "PAD",
    "X": "MAX_POOL_2D",
    "V": "AVERAGE_POOL_2D",
    "G": "MEAN",
    "F": "FULLY_CONNECTED",
    "S": "SOFTMAX",
}
_RECORDED = """
cnn-small 0.5 1 32 4224 1952 2 C3 X3 G1 F1 S1
cnn-small 0.5 1 48 9408 1952 2 C3 X3 G1 F1 S1
cnn-small 0.5 1 64 16640 1952 2 C3 X3 G1 F1 S1
cnn-small 0.5 1 96 37248 1952 2 C3 X3 G1 F1 S1
cnn-small 0.5 3 32 4320 1956 2 C3 X3 G1 F1 S1
cnn-small 0.5 3 48 9552 1956 2 C3 X3 G1 F1 S1
cnn-small 0.5 3 64 16832 1956 2 C3 X3 G1 F1 S1
cnn-small 0.5 3 96 37536 1956 2 C3 X3 G1 F1 S1
cnn-small 1 1 32 8448 6760 2 C3 X3 G1 F1 S1
cnn-small 1 1 48 18816 6760 2 C3 X3 G1 F1 S1
cnn-small 1 1 64 33280 6760 2 C3 X3 G1 F1 S1
cnn-small 1 1 96 74496 6760 2 C3 X3 G1 F1 S1
cnn-small 1 3 32 8448 6768 2 C3 X3 G1 F1 S1
cnn-small 1 3 48 18816 6768 2 C3 X3 G1 F1 S1
cnn-small 1 3 64 33280 6768 2 C3 X3 G1 F1 S1
cnn-small 1 3 96 74496 6768 2 C3 X3 G1 F1 S1
cnn-small 2 1 32 16896 25016 2 C3 X3 G1 F1 S1
cnn-small 2 1 48 37632 25016 2 C3 X3 G1 F1 S1
cnn-small 2 1 64 66560 25016 2 C3 X3 G1 F1 S1
cnn-small 2 1 96 148992 25016 2 C3 X3 G1 F1 S1
cnn-small 2 3 32 16896 25032 2 C3 X3 G1 F1 S1
cnn-small 2 3 48 37632 25032 2 C3 X3 G1 F1 S1
cnn-small 2 3 64 66560 25032 2 C3 X3 G1 F1 S1
cnn-small 2 3 96 148992 25032 2 C3 X3 G1 F1 S1
mobilenet-v1 0.1 1 32 2304 58423 0 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.1 1 48 4416 58423 1 C14 D13 A1 M1 P1 G1 F1 S1
mobilenet-v1 0.1 1 64 9216 58423 0 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.1 1 96 20736 58423 0 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.1 3 32 3840 58388 0 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.1 3 48 8640 58388 0 C14 D13 A1 M1 P1 G1 F1 S1
mobilenet-v1 0.1 3 64 15360 58388 0 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.1 3 96 34560 58388 0 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.2 1 32 3264 178483 2 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.2 1 48 8640 178483 1 C14 D13 A1 M1 P1 G1 F1 S1
mobilenet-v1 0.2 1 64 15360 178483 1 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.2 1 96 34560 178483 1 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.2 3 32 4608 178413 0 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.2 3 48 10368 178413 0 C14 D13 A1 M1 P1 G1 F1 S1
mobilenet-v1 0.2 3 64 18432 178413 0 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.2 3 96 41472 178413 0 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.25 1 32 4352 262808 2 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.25 1 48 9600 262808 2 C14 D13 A1 M1 P1 G1 F1 S1
mobilenet-v1 0.25 1 64 16896 262808 2 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.25 1 96 37632 262808 2 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.25 3 32 6144 262816 0 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.25 3 48 11552 262816 1 C14 D13 A1 M1 P1 G1 F1 S1
mobilenet-v1 0.25 3 64 24576 262816 0 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.25 3 96 55296 262816 0 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.5 1 32 8704 917528 2 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.5 1 48 19200 917528 2 C14 D13 A1 M1 P1 G1 F1 S1
mobilenet-v1 0.5 1 64 33792 917528 2 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.5 1 96 75264 917528 2 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.5 3 32 8704 917544 2 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.5 3 48 19200 917544 2 C14 D13 A1 M1 P1 G1 F1 S1
mobilenet-v1 0.5 3 64 33792 917544 2 C14 D13 A1 M1 G1 F1 S1
mobilenet-v1 0.5 3 96 75264 917544 2 C14 D13 A1 M1 G1 F1 S1
mobilenet-v2 0.05 1 32 13056 93688 2 C35 D17 A13 M1 G1 F1 S1
mobilenet-v2 0.05 1 48 28800 93688 2 C35 D17 A13 M1 G1 F1 S1
mobilenet-v2 0.05 1 64 50688 93688 2 C35 D17 A13 M1 G1 F1 S1
mobilenet-v2 0.05 1 96 112896 93688 2 C35 D17 A13 M1 G1 F1 S1
mobilenet-v2 0.05 3 32 13056 93696 2 C35 D17 A13 M1 G1 F1 S1
mobilenet-v2 0.05 3 48 28800 93696 2 C35 D17 A13 M1 G1 F1 S1
mobilenet-v2 0.05 3 64 50688 93696 2 C35 D17 A13 M1 G1 F1 S1
mobilenet-v2 0.05 3 96 112896 93696 2 C35 D17 A13 M1 G1 F1 S1
mobilenet-v2 0.1 1 32 13056 144696 2 C35 D17 A12 M1 G1 F1 S1
mobilenet-v2 0.1 1 48 28800 144696 2 C35 D17 A12 M1 G1 F1 S1
mobilenet-v2 0.1 1 64 50688 144696 2 C35 D17 A12 M1 G1 F1 S1
mobilenet-v2 0.1 1 96 112896 144696 2 C35 D17 A12 M1 G1 F1 S1
mobilenet-v2 0.1 3 32 13056 144704 2 C35 D17 A12 M1 G1 F1 S1
mobilenet-v2 0.1 3 48 28800 144704 2 C35 D17 A12 M1 G1 F1 S1
mobilenet-v2 0.1 3 64 50688 144704 2 C35 D17 A12 M1 G1 F1 S1
mobilenet-v2 0.1 3 96 112896 144704 2 C35 D17 A12 M1 G1 F1 S1
mobilenet-v2 0.35 1 32 13056 515224 2 C35 D17 A11 M1 G1 F1 S1
mobilenet-v2 0.35 1 48 28800 515224 2 C35 D17 A11 M1 G1 F1 S1
mobilenet-v2 0.35 1 64 50688 515224 2 C35 D17 A11 M1 G1 F1 S1
mobilenet-v2 0.35 1 96 112896 515224 2 C35 D17 A11 M1 G1 F1 S1
mobilenet-v2 0.35 3 32 13056 515240 2 C35 D17 A11 M1 G1 F1 S1
mobilenet-v2 0.35 3 48 28800 515240 2 C35 D17 A11 M1 G1 F1 S1
mobilenet-v2 0.35 3 64 50688 515240 2 C35 D17 A11 M1 G1 F1 S1
mobilenet-v2 0.35 3 96 112896 515240 2 C35 D17 A11 M1 G1 F1 S1
"""


@dataclass(frozen=True)
class _Plan:
    activation_bytes: int
    weights_bytes: int
    in_place_operators: int
    operators: dict[str, int]


@dataclass(frozen=True)
class EngineFigures:
    """A candidate's program under the C engine: RAM = activation + stack, flash = weights +
    code (the board's parts are added by hardware/footprint.fit_c)."""

    activation_bytes: int
    stack_bytes: int
    weights_bytes: int
    code_bytes: int
    basis: str


def _parse(text: str) -> dict[tuple[str, float, int], dict[int, _Plan]]:
    plans: dict[tuple[str, float, int], dict[int, _Plan]] = {}
    for line in text.strip().splitlines():
        arch, alpha, channels, size, activation, weights, in_place, *ops = line.split()
        counts = {OPERATOR_CODES[op[0]]: int(op[1:]) for op in ops}
        plan = _Plan(int(activation), int(weights), int(in_place), counts)
        plans.setdefault((arch, float(alpha), int(channels)), {})[int(size)] = plan
    return plans


_PLANS = _parse(_RECORDED)


def _even(side: int) -> int:
    return side + side % 2


def figures(
    architecture: str, alpha: float, size: int, channels: int, num_classes: int
) -> EngineFigures | None:
    """The C engine's figures for this configuration; None when it was not recorded."""
    recorded = next(
        (
            sizes
            for (arch, recorded_alpha, chans), sizes in _PLANS.items()
            if arch == architecture and math.isclose(recorded_alpha, alpha) and chans == channels
        ),
        None,
    )
    if recorded is None:
        return None
    nearest = min(recorded, key=lambda known: (abs(known - size), -known))
    plan = recorded[nearest]
    activation = plan.activation_bytes
    basis = f"the C engine's plan of this model at {size}×{size}×{channels}"
    if nearest != size:
        scaled = math.ceil(activation * _even(size) ** 2 / _even(nearest) ** 2)
        activation = (scaled + 15) // 16 * 16
        basis = f"the C engine's plan at {nearest}×{nearest}×{channels}, scaled to {size}×{size}"
    extra_classes = num_classes - RECORDED_CLASSES
    weights = plan.weights_bytes + (feature_channels(architecture, alpha) + 8) * extra_classes
    return EngineFigures(
        activation_bytes=activation,
        stack_bytes=code_size.STACK_BYTES,
        weights_bytes=weights,
        code_bytes=code_size.code_bytes(plan.operators, plan.in_place_operators),
        basis=basis,
    )
