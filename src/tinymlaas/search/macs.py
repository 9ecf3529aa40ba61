"""Multiply-accumulates of one inference of a catalog architecture (pure arithmetic).

Counted layer by layer as Keras builds them (training/architectures.py): convolutions,
depthwise convolutions and the classifier; pooling, BatchNorm (folded away by the converter),
activations and additions are not MACs and are left out. A latency estimate scales this count
by a cycles-per-MAC factor and the board's clock (search/space.py).
"""

from __future__ import annotations

import math

from tinymlaas.training.catalog import CNN_SMALL, MOBILENET_V1, make_divisible

CNN_SMALL_FILTERS = (8, 16, 32)
# MobileNet (v1): (pointwise filters at alpha 1, stride of the depthwise convolution).
MOBILENET_V1_BLOCKS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)  # fmt: skip
# MobileNetV2: (expansion, output channels at alpha 1, repeats, first stride).
MOBILENET_V2_BLOCKS = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)  # fmt: skip


def _conv(height: int, width: int, kernel: int, channels_in: int, channels_out: int) -> int:
    return height * width * kernel * kernel * channels_in * channels_out


def _half(size: int) -> int:
    """A stride-2 'same' convolution's output side."""
    return math.ceil(size / 2)


def _cnn_small(height: int, width: int, channels: int, alpha: float) -> tuple[int, int]:
    macs, channels_in = 0, channels
    for base in CNN_SMALL_FILTERS:
        filters = max(1, round(base * alpha))
        macs += _conv(height, width, 3, channels_in, filters)
        height, width, channels_in = height // 2, width // 2, filters
    return macs, channels_in


def _mobilenet_v1(height: int, width: int, channels: int, alpha: float) -> tuple[int, int]:
    height, width = _half(height), _half(width)
    channels_in = int(32 * alpha)
    macs = _conv(height, width, 3, channels, channels_in)
    for filters, stride in MOBILENET_V1_BLOCKS:
        if stride == 2:
            height, width = _half(height), _half(width)
        out = int(filters * alpha)
        macs += height * width * 9 * channels_in + _conv(height, width, 1, channels_in, out)
        channels_in = out
    return macs, channels_in


def _mobilenet_v2(height: int, width: int, channels: int, alpha: float) -> tuple[int, int]:
    height, width = _half(height), _half(width)
    channels_in = make_divisible(32 * alpha)
    macs = _conv(height, width, 3, channels, channels_in)
    for expansion, base, repeats, first_stride in MOBILENET_V2_BLOCKS:
        out = make_divisible(base * alpha)
        for index in range(repeats):
            expanded = channels_in * expansion
            if expansion != 1:
                macs += _conv(height, width, 1, channels_in, expanded)
            if index == 0 and first_stride == 2:
                height, width = _half(height), _half(width)
            macs += height * width * 9 * expanded + _conv(height, width, 1, expanded, out)
            channels_in = out
    last = 1280 if alpha <= 1.0 else make_divisible(1280 * alpha)
    macs += _conv(height, width, 1, channels_in, last)
    return macs, last


def feature_channels(architecture: str, alpha: float) -> int:
    """Channels of the pooled features the classifier reads (its inputs per class)."""
    if architecture == CNN_SMALL:
        return _cnn_small(8, 8, 1, alpha)[1]
    if architecture == MOBILENET_V1:
        return _mobilenet_v1(32, 32, 1, alpha)[1]
    return _mobilenet_v2(32, 32, 1, alpha)[1]


def count_macs(
    architecture: str, alpha: float, width: int, height: int, channels: int, num_classes: int
) -> int:
    """MACs of one inference at this input, including the softmax classifier."""
    if architecture == CNN_SMALL:
        macs, features = _cnn_small(height, width, channels, alpha)
    elif architecture == MOBILENET_V1:
        macs, features = _mobilenet_v1(height, width, channels, alpha)
    else:
        macs, features = _mobilenet_v2(height, width, channels, alpha)
    return macs + features * num_classes
