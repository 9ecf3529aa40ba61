"""The 3x3 filters packed at generation time: the words hold the filter's int16 taps where the
kernel reads them, the constants the folded and plain biases and the fast requantization."""

from __future__ import annotations

import numpy as np
import pytest

from tinymlaas.engine.codegen_packed import (
    CONSTANT_WORDS,
    FILTER_WORDS,
    depthwise_layout,
    pack_depthwise,
    packable_3x3,
)


def _halves(word: int) -> tuple[int, int]:
    unsigned = word & 0xFFFFFFFF
    low, high = unsigned & 0xFFFF, unsigned >> 16
    return (low - (low >> 15) * 0x10000, high - (high >> 15) * 0x10000)


def test_depthwise_filter_is_packed_by_groups_of_four_channels_padded_with_zeros() -> None:
    rng = np.random.default_rng(3)
    weights = rng.integers(-128, 128, (1, 3, 3, 7)).astype(np.int8)
    bias = rng.integers(-5000, 5000, 7)
    packed = pack_depthwise(weights, bias, 17, list(range(1, 8)), [-3] * 7, -9)

    assert len(packed.filter_words) == 2 * FILTER_WORDS  # 7 channels: two groups
    assert len(packed.constants) == 2 * CONSTANT_WORDS
    taps = weights.reshape(9, 7)
    for channel in range(8):
        group, slot = divmod(channel, 4)
        for tap in range(9):
            word = packed.filter_words[group * FILTER_WORDS + 2 * tap + (slot & 1)]
            value = _halves(word)[slot >> 1]
            assert value == (int(taps[tap, channel]) if channel < 7 else 0)
    constants = np.asarray(packed.constants).reshape(2, CONSTANT_WORDS)
    folded = bias + 17 * taps.astype(np.int64).sum(axis=0)
    assert constants[:, :4].ravel()[:7].tolist() == folded.tolist()
    assert constants[:, 4:8].ravel()[:7].tolist() == bias.tolist()
    multiplier, right, rounding = constants[0, 8:11]
    # round = 2^(right - 1) + output_offset * 2^right, as tml_requantize_small expects.
    assert (multiplier, right, rounding) == (1, 3, 4 + (-9) * 8)


def test_conv_on_one_channel_takes_the_depthwise_layout() -> None:
    conv = np.arange(8 * 9, dtype=np.int64).reshape(8, 3, 3, 1) - 36
    layout = depthwise_layout(conv, depthwise=False)
    assert layout.shape == (1, 3, 3, 8)
    assert layout[0, 1, 2, 5] == conv[5, 1, 2, 0]
    depthwise = conv.reshape(1, 3, 3, 8)
    assert depthwise_layout(depthwise, depthwise=True) is depthwise


@pytest.mark.parametrize(
    ("depthwise", "shape", "dilation", "channels", "fast", "expected"),
    [
        (True, (1, 3, 3, 16), (1, 1), (16, 16), True, True),
        (True, (1, 3, 3, 16), (1, 1), (16, 16), False, False),  # generic requantization
        (True, (1, 3, 3, 32), (1, 1), (16, 32), True, False),  # depth multiplier 2
        (True, (1, 5, 5, 16), (1, 1), (16, 16), True, False),
        (True, (1, 3, 3, 16), (2, 2), (16, 16), True, False),
        (False, (8, 3, 3, 1), (1, 1), (1, 8), True, True),  # a grayscale model's first conv
        (False, (8, 3, 3, 3), (1, 1), (3, 8), True, False),
    ],
)
def test_which_convolutions_are_packed(
    depthwise: bool,
    shape: tuple[int, ...],
    dilation: tuple[int, int],
    channels: tuple[int, int],
    fast: bool,
    expected: bool,
) -> None:
    assert packable_3x3(depthwise, shape, dilation, channels, fast) is expected
