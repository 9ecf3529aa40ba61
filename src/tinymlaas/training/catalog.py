"""What can be trained: the architecture catalog, request validation and footprint estimates.

Pure: no TensorFlow, FastAPI or SQLAlchemy, so the API process can import it. The footprints are
measured by bench/architecture_footprints.py (full int8, TFLite-Micro reference kernels); see
`estimate` for how they scale to other input sizes, channels and class counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CNN_SMALL = "cnn-small"
MOBILENET_V1 = "mobilenet-v1"
MOBILENET_V2 = "mobilenet-v2"


class InvalidTrainingConfig(ValueError):
    """A training request the catalog cannot build; the message names the field and its limits."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# Where the footprints below were measured: input, classes, date.
REFERENCE_SIZE = 96
REFERENCE_CLASSES = 3
MEASURED_ON = "2026-11-26"


@dataclass(frozen=True)
class Footprint:
    """Measured int8 footprint at 96×96×1 with 3 classes; sizes in bytes.

    `parameters` is Keras' count (BatchNorm included, though it folds away in conversion).
    `arena_bytes` is the TFLite-Micro arena the model really allocates, input tensor included;
    `arena_persistent_bytes` is its persistent part (tensor and op data, per-channel
    quantization), which does not depend on the input size; the rest is activations.
    `arena_rgb_extra_bytes` is how much more the arena needs at 96×96×3.
    """

    parameters: int
    tflite_bytes: int
    arena_bytes: int
    arena_persistent_bytes: int
    arena_rgb_extra_bytes: int


@dataclass(frozen=True)
class Architecture:
    """One trainable architecture with the widths (alphas) and input sizes it offers."""

    id: str
    name: str
    description: str
    alphas: tuple[float, ...]
    default_alpha: float
    min_input: int
    max_input: int
    default_input: int
    # Measured at 96×96×1, 3 classes, full int8, per alpha (bench/architecture_footprints.py).
    footprints: dict[float, Footprint]


# Measured 2026-11-26 by bench/architecture_footprints.py: (parameters, .tflite bytes, arena,
# of which persistent, extra arena at 96×96×3). Deterministic: a re-run gave the same bytes.
# Against Edge Impulse's published 96×96 int8 figures (RAM excludes their input buffer):
#   mobilenet-v1 α0.1   EI  53.2 KB RAM / 101.0 KB flash; here  44.9 KB arena /  96.8 KB
#   mobilenet-v1 α0.25  EI 105.9 KB RAM / 301.6 KB flash; here  85.5 KB arena / 315.8 KB
#   mobilenet-v2 α0.35  EI 296.8 KB RAM / 575.2 KB flash; here 210.5 KB arena / 633.7 KB
# The flash sizes agree within 5–10% (our MobileNetV2 keeps Keras' 1280-channel last layer).
# EI's RAM figures are higher: they add runtime overhead and optimized-kernel (CMSIS-NN) scratch
# buffers that the reference kernels measured here do not use; keep a margin on real boards.
# MobileNetV2's activation peak (138 KB at 96×96) is the same for every alpha, so lower alphas
# save flash, not RAM; its default is therefore the conventional 0.35.
ARCHITECTURES: dict[str, Architecture] = {
    CNN_SMALL: Architecture(
        id=CNN_SMALL,
        name="Small CNN",
        description=(
            "Three Conv 3×3 + BatchNorm + ReLU + MaxPool blocks (8/16/32 filters × alpha), "
            "global average pooling and a softmax classifier. Smallest and fastest; suits "
            "simple shapes and few classes."
        ),
        alphas=(0.5, 1.0, 2.0),
        default_alpha=1.0,
        min_input=16,
        max_input=320,
        default_input=96,
        footprints={
            0.5: Footprint(1639, 7432, 48864, 2784, 18432),
            1.0: Footprint(6155, 12528, 95168, 3008, 9216),
            2.0: Footprint(23827, 31544, 187776, 3456, 0),
        },
    ),
    MOBILENET_V1: Architecture(
        id=MOBILENET_V1,
        name="MobileNetV1",
        description=(
            "MobileNet (v1) depthwise-separable network, trained from scratch; alpha scales "
            "every layer's width. α0.25 at 96×96 grayscale is TFLite-Micro's person detector."
        ),
        alphas=(0.1, 0.2, 0.25, 0.5),
        default_alpha=0.25,
        min_input=32,
        max_input=320,
        default_input=96,
        footprints={
            0.1: Footprint(40136, 96848, 44880, 17232, 27648),
            0.2: Footprint(142766, 225656, 67504, 26032, 13824),
            0.25: Footprint(219171, 315832, 85456, 30160, 18432),
            0.5: Footprint(830787, 992736, 162640, 52048, 0),
        },
    ),
    MOBILENET_V2: Architecture(
        id=MOBILENET_V2,
        name="MobileNetV2",
        description=(
            "MobileNetV2 inverted-residual network, trained from scratch; alpha scales the "
            "blocks' width (the last 1×1 convolution keeps 1280 channels)."
        ),
        alphas=(0.05, 0.1, 0.35),
        default_alpha=0.35,
        min_input=32,
        max_input=320,
        default_input=96,
        footprints={
            0.05: Footprint(56019, 183304, 178336, 40096, 0),
            0.1: Footprint(97011, 238000, 183296, 45056, 0),
            0.35: Footprint(413763, 633744, 210528, 72288, 0),
        },
    ),
}


def _format_alpha(alpha: float) -> str:
    return f"{alpha:g}"


def validate(
    architecture: str, alpha: float | None, width: int, height: int
) -> tuple[Architecture, float]:
    """Check a request against the catalog; return the architecture and the effective alpha."""
    spec = ARCHITECTURES.get(architecture)
    if spec is None:
        known = ", ".join(sorted(ARCHITECTURES))
        raise InvalidTrainingConfig(
            "architecture", f"architecture {architecture!r} is unknown; known: {known}"
        )
    if alpha is None:
        effective_alpha = spec.default_alpha
    else:
        # JSON numbers arrive as floats: match within rounding, answer with the catalog's value.
        matches = [offered for offered in spec.alphas if math.isclose(alpha, offered)]
        if not matches:
            allowed = ", ".join(_format_alpha(offered) for offered in spec.alphas)
            raise InvalidTrainingConfig(
                "alpha", f"alpha {alpha:g} is not offered for {spec.id}; allowed: {allowed}"
            )
        effective_alpha = matches[0]
    for field, size in (("input_width", width), ("input_height", height)):
        if size < spec.min_input:
            raise InvalidTrainingConfig(
                field,
                f"{field} {size} is too small for {spec.id}: the minimum is {spec.min_input}",
            )
        if size > spec.max_input:
            raise InvalidTrainingConfig(
                field,
                f"{field} {size} is too large for {spec.id}: the maximum is {spec.max_input}",
            )
    return spec, effective_alpha


def validate_shape(channels: int, num_classes: int) -> None:
    """Check the channel count (1 grayscale, 3 RGB) and that there are at least 2 classes."""
    if channels not in (1, 3):
        raise InvalidTrainingConfig(
            "channels", f"channels must be 1 (grayscale) or 3 (rgb), got {channels}"
        )
    if num_classes < 2:
        raise InvalidTrainingConfig(
            "num_classes", f"at least 2 classes are needed, got {num_classes}"
        )


@dataclass(frozen=True)
class FootprintEstimate:
    """Predicted int8 footprint of one configuration, in bytes, and how it was derived.

    `flash_bytes` is the .tflite model alone (no runtime code); `arena_bytes` includes the
    model's input tensor; `input_bytes` is one H×W×C frame, the buffer an application needs
    to hold a camera image before copying it into the input tensor.
    """

    parameters: int
    flash_bytes: int
    arena_bytes: int
    input_bytes: int
    basis: str


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels like Keras' MobileNetV2 (nearest multiple, never 10% below `value`)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _first_conv_filters(architecture: str, alpha: float) -> int:
    """Filters of the first 3×3 convolution, the only weights that depend on input channels."""
    if architecture == CNN_SMALL:
        return max(1, round(8 * alpha))
    if architecture == MOBILENET_V1:
        return int(32 * alpha)
    return make_divisible(32 * alpha)


def _feature_channels(architecture: str, alpha: float) -> int:
    """Channels entering the classifier, whose weights grow with the number of classes."""
    if architecture == CNN_SMALL:
        return max(1, round(32 * alpha))
    if architecture == MOBILENET_V1:
        return int(1024 * alpha)
    return 1280 if alpha <= 1.0 else make_divisible(1280 * alpha)


def _round_up_even(size: int) -> int:
    return size + size % 2


def estimate(
    architecture: str, alpha: float, width: int, height: int, channels: int, num_classes: int
) -> FootprintEstimate:
    """Scale the 96×96 measurement to this input size, channel count and number of classes.

    - Parameters are exact: the first 3×3 convolution gains 9 × filters weights per extra input
      channel and the classifier (features + 1) per extra class.
    - Flash: the measured .tflite plus those int8 weights (and an int32 bias per class). The
      converter's output also grows slightly with the input size, which is not modelled.
    - Arena: the persistent part (op data, per-channel quantization) is kept; the activation
      part, plus the measured RGB extra for 3 channels, scales with the pixel count, each side
      rounded up to even because stride-2 layers round up. Every activation tensor is
      proportional to H×W, and TFLite-Micro's planner packs them the same way at every size.

    Error against real measurements (bench --check, 2026-11-26, all architectures and alphas at
    64×64, 128×128, 96×96×3, 64×64×3 with 10 classes, 160×120 with 5 classes): parameters
    exact; arena exact at 64×64, 128×128 and 96×96×3, otherwise −0.5%…0% (the persistent part
    grows by 64–370 B with more classes or a non-square input); flash −1.2%…0%.
    """
    spec, effective_alpha = validate(architecture, alpha, width, height)
    validate_shape(channels, num_classes)
    measured = spec.footprints[effective_alpha]
    first_filters = _first_conv_filters(spec.id, effective_alpha)
    features = _feature_channels(spec.id, effective_alpha)
    extra_channels = channels - 1
    extra_classes = num_classes - REFERENCE_CLASSES
    first_conv_weights = 9 * first_filters * extra_channels
    parameters = measured.parameters + first_conv_weights + (features + 1) * extra_classes
    flash_bytes = measured.tflite_bytes + first_conv_weights + (features + 4) * extra_classes
    activations = measured.arena_bytes - measured.arena_persistent_bytes
    activations += measured.arena_rgb_extra_bytes * extra_channels // 2
    pixels = _round_up_even(width) * _round_up_even(height)
    scaled = math.ceil(activations * pixels / (REFERENCE_SIZE * REFERENCE_SIZE))
    # Worded as what it is: this configuration's estimate, scaled from a reference model.
    basis = (
        f"estimate for {spec.id} α{effective_alpha:g} at {width}×{height}×{channels},"
        f" {num_classes} classes, scaled from a reference model of the same architecture"
        f" measured at {REFERENCE_SIZE}×{REFERENCE_SIZE}×1 with {REFERENCE_CLASSES} classes"
        f" (full int8, TFLite-Micro reference kernels, {MEASURED_ON})"
    )
    return FootprintEstimate(
        parameters=parameters,
        flash_bytes=flash_bytes,
        arena_bytes=measured.arena_persistent_bytes + scaled,
        input_bytes=width * height * channels,
        basis=basis,
    )
