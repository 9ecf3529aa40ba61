"""Filters re-laid out at generation time for the kernels' fast paths (pure).

A 3x3 depthwise convolution with depth multiplier 1, and a 3x3 convolution on one input
channel (the first layer of a grayscale model: the same arithmetic with that channel shared),
are packed by groups of four output channels (`tml_depthwise_packed.c`): the device reads each
group's nine taps and its requantization constants from consecutive words and shuffles
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GROUP = 4
TAPS = 9
FILTER_WORDS = 2 * TAPS  # per group: (channel 0, 2) and (channel 1, 3) int16 pairs per tap
CONSTANT_WORDS = 20  # per group: 4 folded biases, 4 biases, 4 x (multiplier, right, round)


@dataclass(frozen=True)
class PackedDepthwise:
    """A depthwise filter and its constants as `tml_depthwise_packed` reads them."""

    filter_words: list[int]
    constants: list[int]


def packable_3x3(
    depthwise: bool,
    filter_shape: tuple[int, ...],
    dilation: tuple[int, int],
    channels: tuple[int, int],
    fast: bool,
) -> bool:
    """Whether a conv runs on the packed kernel: 3x3, no dilation, the fast requantization's
    conditions proved (`fast_conv`), and `channels` (in, out) those of a depthwise conv with
    depth multiplier 1 or of a CONV_2D on one input channel."""
    in_c, out_c = channels
    shape_ok = tuple(filter_shape[1:3]) == (3, 3) and dilation == (1, 1)
    return fast and shape_ok and (in_c == out_c if depthwise else in_c == 1)


def depthwise_layout(weights: np.ndarray, depthwise: bool) -> np.ndarray:
    """The filter as a depthwise one, (1, 3, 3, C): a CONV_2D's (C, 3, 3, 1) transposed."""
    array = np.asarray(weights)
    return array if depthwise else array.reshape(array.shape[0], 9).T.reshape(1, 3, 3, -1)


def _int16_pairs(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """int32 words of two int16 halves (low in bits 0-15), as signed values."""
    words = (low.astype(np.int64) & 0xFFFF) | ((high.astype(np.int64) & 0xFFFF) << 16)
    return np.where(words >= 2**31, words - 2**32, words)


def pack_depthwise(
    weights: np.ndarray,
    bias: np.ndarray,
    input_offset: int,
    multipliers: list[int],
    shifts: list[int],
    output_offset: int,
) -> PackedDepthwise:
    """Pack a (1, 3, 3, C) int8 depthwise filter, its int32 bias and per-channel
    requantization (right shifts only, as `fast` requires) by groups of four channels; a last
    incomplete group is padded with zero channels."""
    channels = weights.shape[-1]
    groups = -(-channels // GROUP)
    padded = groups * GROUP
    taps = np.zeros((TAPS, padded), dtype=np.int64)
    taps[:, :channels] = np.asarray(weights, dtype=np.int64).reshape(TAPS, channels)
    by_group = taps.reshape(TAPS, groups, GROUP).transpose(1, 0, 2)  # [group][tap][channel]
    words = np.stack(
        [
            _int16_pairs(by_group[:, :, 0], by_group[:, :, 2]),
            _int16_pairs(by_group[:, :, 1], by_group[:, :, 3]),
        ],
        axis=2,
    )  # [group][tap][even, odd]
    plain = np.zeros(padded, dtype=np.int64)
    plain[:channels] = bias
    folded = plain + input_offset * taps.sum(axis=0)
    right = np.ones(padded, dtype=np.int64)
    right[:channels] = [-shift for shift in shifts]
    multiplier = np.zeros(padded, dtype=np.int64)
    multiplier[:channels] = multipliers
    rounding = (2 * output_offset + 1) * (np.int64(1) << (right - 1))
    requantization = np.stack([multiplier, right, rounding], axis=1).reshape(groups, -1)
    constants = np.concatenate(
        [folded.reshape(groups, GROUP), plain.reshape(groups, GROUP), requantization], axis=1
    )
    assert constants.shape[1] == CONSTANT_WORDS
    assert words.shape[1:] == (TAPS, 2)
    return PackedDepthwise(words.ravel().tolist(), constants.ravel().tolist())
