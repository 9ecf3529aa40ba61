"""Compile-time quantization arithmetic, computed exactly as TFLite-Micro's Prepare steps do (pure).

The kernels only ever see the integers these functions return, so bit-exactness with
TFLite-Micro starts here: the multipliers come from `QuantizeMultiplier` (frexp, then rounding
half away from zero to 31 bits), the activation limits from float32 division and rounding.
"""

from __future__ import annotations

import math

import numpy as np

INT8_MIN = -128
INT8_MAX = 127


def round_half_away(value: float) -> int:
    """Round to the nearest integer, ties away from zero (std::round, TfLiteRound)."""
    magnitude = math.floor(abs(value) + 0.5)
    return int(-magnitude if value < 0 else magnitude)


def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """Return (multiplier, shift) with real ≈ multiplier * 2**(shift - 31), as TFLite does."""
    if real_multiplier == 0.0:
        return 0, 0
    mantissa, shift = math.frexp(real_multiplier)
    fixed = round_half_away(mantissa * 2.0**31)
    if fixed == 2**31:
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return fixed, shift


def multiply_by_quantized_multiplier(value: int, multiplier: int, shift: int) -> int:
    """The kernels' requantization (double rounding), in Python: for tests and checks."""
    left = shift if shift > 0 else 0
    right = 0 if shift > 0 else -shift
    return rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(_wrap32(value * (1 << left)), multiplier), right
    )


def saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    """gemmlowp's SaturatingRoundingDoublingHighMul for int32 operands."""
    if a == b == -(2**31):
        return 2**31 - 1
    product = a * b
    nudge = (1 << 30) if product >= 0 else 1 - (1 << 30)
    total = product + nudge
    # C integer division truncates toward zero.
    quotient = abs(total) // (1 << 31)
    return _wrap32(quotient if total >= 0 else -quotient)


def rounding_divide_by_pot(value: int, exponent: int) -> int:
    """gemmlowp's RoundingDivideByPOT: divide by 2**exponent, ties away from zero."""
    mask = (1 << exponent) - 1
    remainder = value & mask
    threshold = (mask >> 1) + (1 if value < 0 else 0)
    return (value >> exponent) + (1 if remainder > threshold else 0)


def _wrap32(value: int) -> int:
    return (value + 2**31) % 2**32 - 2**31


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """Clamp limits of a fused activation on an int8 output (CalculateActivationRangeQuantized)."""

    def quantize(real: float) -> int:
        # float32 division, as the C++ lambda does with a float scale.
        return zero_point + round_half_away(float(np.float32(real) / np.float32(scale)))

    if activation == "NONE":
        return INT8_MIN, INT8_MAX
    if activation == "RELU":
        return max(INT8_MIN, quantize(0.0)), INT8_MAX
    if activation == "RELU6":
        return max(INT8_MIN, quantize(0.0)), min(INT8_MAX, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(INT8_MIN, quantize(-1.0)), min(INT8_MAX, quantize(1.0))
    raise ValueError(f"unknown activation {activation}")


def same_padding(size: int, stride: int, filter_size: int, dilation: int, padding: str) -> int:
    """Leading padding (top or left) of a convolution or pool (ComputePaddingHeightWidth)."""
    effective = (filter_size - 1) * dilation + 1
    if padding == "VALID":
        return 0
    output = (size + stride - 1) // stride
    total = (output - 1) * stride + effective - size
    return max(total // 2, 0)


def output_size(size: int, stride: int, filter_size: int, dilation: int, padding: str) -> int:
    """Output height or width of a convolution or pool."""
    effective = (filter_size - 1) * dilation + 1
    if padding == "SAME":
        return (size + stride - 1) // stride
    return (size - effective + stride) // stride


def per_channel_multipliers(
    input_scale: float, filter_scales: tuple[float, ...], output_scale: float, channels: int
) -> tuple[list[int], list[int]]:
    """Per-output-channel (multiplier, shift) lists of a conv/depthwise/FC layer."""
    multipliers: list[int] = []
    shifts: list[int] = []
    for channel in range(channels):
        filter_scale = filter_scales[channel] if len(filter_scales) > 1 else filter_scales[0]
        real = float(np.float32(input_scale)) * float(np.float32(filter_scale))
        multiplier, shift = quantize_multiplier(real / float(np.float32(output_scale)))
        multipliers.append(multiplier)
        shifts.append(shift)
    return multipliers, shifts


def softmax_parameters(beta: float, input_scale: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) of int8 softmax (PreprocessSoftmaxScaling)."""
    integer_bits = 5
    real = min(
        float(beta) * float(np.float32(input_scale)) * float(1 << (31 - integer_bits)),
        float((1 << 31) - 1),
    )
    multiplier, left_shift = quantize_multiplier(real)
    if left_shift < 0:
        raise ValueError("softmax input multiplier below one")
    radius = ((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / (1 << left_shift)
    return multiplier, left_shift, -math.floor(radius)


def add_parameters(
    scale1: float, scale2: float, output_scale: float
) -> tuple[int, tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(left_shift, input1, input2, output (multiplier, shift)) of int8 ADD."""
    left_shift = 20
    twice_max = 2.0 * float(max(np.float32(scale1), np.float32(scale2)))
    first = quantize_multiplier(float(np.float32(scale1)) / twice_max)
    second = quantize_multiplier(float(np.float32(scale2)) / twice_max)
    output = quantize_multiplier(twice_max / ((1 << left_shift) * float(np.float32(output_scale))))
    return left_shift, first, second, output


def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """(multiplier, shift) turning a sum of `count` int8 offsets into the int8 mean.

    TFLite-Micro folds 1/count into the input/output multiplier with as many extra bits as
    count has (at most 32, and keeping the final shift at least -31).
    """
    multiplier, shift = quantize_multiplier(
        float(np.float32(input_scale)) / float(np.float32(output_scale))
    )
    extra = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << extra) // count, shift - extra


def quantize_pixels(
    pixels: np.ndarray, scale: float, zero_point: int, integer_type: type = np.int8
) -> np.ndarray:
    """uint8 pixels to a quantized input tensor as the converter's float32 graph does:
    floor(p / scale + 0.5) + zero_point in float32, clamped to the integer type."""
    scaled = pixels.astype(np.float32) / np.float32(scale)
    rounded = np.floor(scaled + np.float32(0.5)).astype(np.int32) + zero_point
    limits = np.iinfo(integer_type)
    quantized: np.ndarray = np.clip(rounded, limits.min, limits.max).astype(integer_type)
    return quantized
