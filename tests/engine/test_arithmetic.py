"""The compile-time quantization arithmetic against values TFLite computes."""

import math

import numpy as np
import pytest

from tinymlaas.engine import arithmetic


@pytest.mark.parametrize(
    ("real", "expected"),
    [
        (0.0, (0, 0)),
        (0.5, (2**30, 0)),
        (1.0, (2**30, 1)),
        (0.75, (3 * 2**29, 0)),
        # A mantissa that rounds up to 2**31 moves into the exponent.
        (1.0 - 2.0**-40, (2**30, 1)),
        # Below 2**-31 everything would be shifted out: flushed to zero.
        (2.0**-40, (0, 0)),
    ],
)
def test_quantize_multiplier(real: float, expected: tuple[int, int]) -> None:
    assert arithmetic.quantize_multiplier(real) == expected


def test_quantize_multiplier_represents_the_real_value() -> None:
    for real in np.random.default_rng(0).uniform(1e-6, 4.0, 200):
        multiplier, shift = arithmetic.quantize_multiplier(float(real))
        assert 2**30 <= multiplier < 2**31
        assert math.isclose(multiplier * 2.0 ** (shift - 31), real, rel_tol=2**-30)


def test_round_half_away_from_zero() -> None:
    assert [arithmetic.round_half_away(v) for v in (0.5, 1.5, -0.5, -1.5, 2.4999)] == [
        1, 2, -1, -2, 2,
    ]  # fmt: skip


def test_rounding_divide_by_power_of_two_rounds_ties_away_from_zero() -> None:
    assert [arithmetic.rounding_divide_by_pot(v, 1) for v in (3, -3, 5, -5, 4)] == [
        2, -2, 3, -3, 2,
    ]  # fmt: skip


def test_multiply_by_quantized_multiplier_matches_float_within_one() -> None:
    rng = np.random.default_rng(1)
    for real in rng.uniform(1e-4, 3.0, 50):
        multiplier, shift = arithmetic.quantize_multiplier(float(real))
        for value in rng.integers(-(2**20), 2**20, 20):
            exact = int(value) * float(real)
            got = arithmetic.multiply_by_quantized_multiplier(int(value), multiplier, shift)
            assert abs(got - exact) <= 1


def test_activation_ranges() -> None:
    assert arithmetic.activation_range("NONE", 0.1, 3) == (-128, 127)
    assert arithmetic.activation_range("RELU", 0.1, -5) == (-5, 127)
    # 6 / (6/255) = 255 steps above the zero point, clamped to int8.
    assert arithmetic.activation_range("RELU6", 6 / 255, -128) == (-128, 127)
    assert arithmetic.activation_range("RELU6", 0.05, -128) == (-128, -8)


def test_padding_and_output_sizes() -> None:
    assert arithmetic.output_size(32, 2, 3, 1, "SAME") == 16
    assert arithmetic.same_padding(32, 2, 3, 1, "SAME") == 0  # total 1: the extra row goes after
    assert arithmetic.same_padding(32, 1, 3, 1, "SAME") == 1
    assert arithmetic.same_padding(32, 1, 3, 2, "SAME") == 2  # dilated 3×3 spans 5
    assert arithmetic.output_size(32, 1, 3, 1, "VALID") == 30
    assert arithmetic.same_padding(32, 1, 3, 1, "VALID") == 0


def test_softmax_parameters() -> None:
    multiplier, left_shift, diff_min = arithmetic.softmax_parameters(1.0, 0.1)
    # The scale is a float32 in the model: 0.1 is 0.100000001490116.
    expected = float(np.float32(0.1)) * 2**26
    assert multiplier * 2.0 ** (left_shift - 31) == pytest.approx(expected, rel=1e-9)
    # diff_min: the most negative input difference whose rescaled value still fits the 5
    # integer bits exp() takes: 31 * 2**26 / 2**left_shift (left_shift is 23 here).
    assert left_shift == 23
    assert diff_min == -248


def test_mean_multiplier_folds_the_count() -> None:
    multiplier, shift = arithmetic.mean_multiplier(0.02, 0.01, 16)
    assert multiplier * 2.0 ** (shift - 31) == pytest.approx(2.0 / 16, rel=1e-8)
    # A sum of 16 offsets of 3 each is a mean of 3, i.e. 6 output steps.
    assert arithmetic.multiply_by_quantized_multiplier(48, multiplier, shift) == 6
