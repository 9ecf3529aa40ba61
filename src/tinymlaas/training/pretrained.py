"""Pretrained starting points: Keras's published ImageNet files and the layers a base must hold.

Pure: no TensorFlow, so the API can name the file a request needs and check that it is cached.
Keras publishes "no top" ImageNet weights of MobileNet v1 for α ∈ {0.25, 0.5, 0.75, 1.0} at
128–224 pixels and of MobileNetV2 for α ∈ {0.35, 0.5, 0.75, 1.0, 1.3, 1.4} at 96–224 pixels.
Convolution weights do not depend on the input size (the network is fully convolutional), so
any input size can start from them; the file trained at the nearest size is taken, because
its filters are tuned to objects of about that scale. The width α changes every layer's
shape, so it must be one Keras published.

Our builders (architectures.py) call keras.applications on the rescaled input, so the trained
model's backbone layers carry exactly Keras's names; `backbone_layers` lists them with their
weight shapes, computed here without Keras (tests check them against keras.applications).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from tinymlaas.training.catalog import CNN_SMALL, MOBILENET_V1, MOBILENET_V2, make_divisible

Shape = tuple[int, ...]

IMAGENET_ALPHAS: dict[str, tuple[float, ...]] = {
    MOBILENET_V1: (0.25, 0.5, 0.75, 1.0),
    MOBILENET_V2: (0.35, 0.5, 0.75, 1.0, 1.3, 1.4),
}
IMAGENET_SIZES: dict[str, tuple[int, ...]] = {
    MOBILENET_V1: (128, 160, 192, 224),
    MOBILENET_V2: (96, 128, 160, 192, 224),
}
_BASE_URLS = {
    MOBILENET_V1: "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/",
    MOBILENET_V2: "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/",
}
# The first convolution: the only layer whose weights depend on the input's channels.
FIRST_CONVOLUTION = {CNN_SMALL: "block1_conv", MOBILENET_V1: "conv1", MOBILENET_V2: "Conv1"}


class NoPretrainedWeights(ValueError):
    """The request asks for ImageNet weights Keras does not publish; the message says which."""


@dataclass(frozen=True)
class ImagenetFile:
    """One of Keras's published "no top" weight files (legacy HDF5, by layer name).

    Keras publishes no hashes for the MobileNet files (keras.applications downloads them
    unchecked too); every file is vetted against `backbone_layers` before it is used.
    """

    architecture: str
    alpha: float
    size: int
    filename: str
    url: str


def imagenet_file(architecture: str, alpha: float, width: int, height: int) -> ImagenetFile:
    """The published file for this architecture and α at the size nearest the input's."""
    alphas = IMAGENET_ALPHAS.get(architecture)
    if alphas is None:
        offered = ", ".join(sorted(IMAGENET_ALPHAS))
        raise NoPretrainedWeights(
            f"no ImageNet weights are published for {architecture}; they exist for {offered}"
        )
    if not any(math.isclose(alpha, offered) for offered in alphas):
        listed = ", ".join(f"{offered:g}" for offered in alphas)
        raise NoPretrainedWeights(
            f"no ImageNet weights are published for {architecture} α{alpha:g}; Keras publishes"
            f" α {listed} (use one of them, or weights 'none')"
        )
    side = (width + height) / 2
    # Nearest size; on a tie the larger, whose filters saw more detail.
    size = min(IMAGENET_SIZES[architecture], key=lambda offered: (abs(offered - side), -offered))
    if architecture == MOBILENET_V1:
        alpha_text = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}[_published(alpha, alphas)]
        filename = f"mobilenet_{alpha_text}_{size}_tf_no_top.h5"
    else:
        published = _published(alpha, alphas)
        filename = (
            f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(published)}_{size}_no_top.h5"
        )
    return ImagenetFile(
        architecture, _published(alpha, alphas), size, filename, _BASE_URLS[architecture] + filename
    )


def _published(alpha: float, alphas: tuple[float, ...]) -> float:
    return next(offered for offered in alphas if math.isclose(alpha, offered))


def cached_path(weights_dir: Path, file: ImagenetFile) -> Path | None:
    """Where the file is in the weights cache, or None when it is not there."""
    path = weights_dir / file.filename
    return path if path.is_file() else None


def cached_filenames(weights_dir: Path) -> list[str]:
    """Every published file name present in the cache, sorted."""
    names = {_imagenet_name(arch, alpha, size) for arch, alpha, size in _all_published()}
    if not weights_dir.is_dir():
        return []
    return sorted(path.name for path in weights_dir.iterdir() if path.name in names)


def published_file(filename: str) -> ImagenetFile | None:
    """The published file of that name, if Keras publishes one."""
    for arch, alpha, size in _all_published():
        if _imagenet_name(arch, alpha, size) == filename:
            return imagenet_file(arch, alpha, size, size)
    return None


def _all_published() -> list[tuple[str, float, int]]:
    return [
        (arch, alpha, size)
        for arch, alphas in IMAGENET_ALPHAS.items()
        for alpha in alphas
        for size in IMAGENET_SIZES[arch]
    ]


def _imagenet_name(architecture: str, alpha: float, size: int) -> str:
    return imagenet_file(architecture, alpha, size, size).filename


def backbone_layers(architecture: str, alpha: float, channels: int) -> dict[str, list[Shape]]:
    """Every backbone layer with weights, in order: its name and its weights' shapes.

    Convolutions hold a kernel (depthwise: H×W×in×1); BatchNorms gamma, beta, moving mean and
    moving variance. The classifier is not part of the backbone: a base never provides it.
    """
    if architecture == MOBILENET_V1:
        return _mobilenet_v1_layers(alpha, channels)
    if architecture == MOBILENET_V2:
        return _mobilenet_v2_layers(alpha, channels)
    if architecture == CNN_SMALL:
        return _cnn_small_layers(alpha, channels)
    raise NoPretrainedWeights(f"architecture {architecture!r} has no known backbone layers")


def _conv(layers: dict[str, list[Shape]], name: str, shape: Shape, norm: str) -> int:
    """Record a convolution and the BatchNorm after it; its number of filters."""
    layers[name] = [shape]
    layers[norm] = [(shape[3],)] * 4
    return shape[3]


def _mobilenet_v1_layers(alpha: float, channels: int) -> dict[str, list[Shape]]:
    layers: dict[str, list[Shape]] = {}
    width = _conv(layers, "conv1", (3, 3, channels, int(32 * alpha)), "conv1_bn")
    pointwise = (64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
    for block, filters in enumerate(pointwise, start=1):
        layers[f"conv_dw_{block}"] = [(3, 3, width, 1)]
        layers[f"conv_dw_{block}_bn"] = [(width,)] * 4
        out = int(filters * alpha)
        _conv(layers, f"conv_pw_{block}", (1, 1, width, out), f"conv_pw_{block}_bn")
        width = out
    return layers


# MobileNetV2's inverted residual blocks: (filters, expansion), in order.
_V2_BLOCKS: tuple[tuple[int, int], ...] = (
    (((16, 1),) + ((24, 6),) * 2 + ((32, 6),) * 3 + ((64, 6),) * 4 + ((96, 6),) * 3)
    + ((160, 6),) * 3
    + ((320, 6),)
)


def _mobilenet_v2_layers(alpha: float, channels: int) -> dict[str, list[Shape]]:
    layers: dict[str, list[Shape]] = {}
    width = make_divisible(32 * alpha, 8)
    layers["Conv1"] = [(3, 3, channels, width)]
    layers["bn_Conv1"] = [(width,)] * 4
    for block, (filters, expansion) in enumerate(_V2_BLOCKS):
        prefix = f"block_{block}_" if block else "expanded_conv_"
        expanded = width * expansion
        if block:
            layers[f"{prefix}expand"] = [(1, 1, width, expanded)]
            layers[f"{prefix}expand_BN"] = [(expanded,)] * 4
        layers[f"{prefix}depthwise"] = [(3, 3, expanded, 1)]
        layers[f"{prefix}depthwise_BN"] = [(expanded,)] * 4
        out = make_divisible(int(filters * alpha), 8)
        layers[f"{prefix}project"] = [(1, 1, expanded, out)]
        layers[f"{prefix}project_BN"] = [(out,)] * 4
        width = out
    last = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    layers["Conv_1"] = [(1, 1, width, last)]
    layers["Conv_1_bn"] = [(last,)] * 4
    return layers


def _cnn_small_layers(alpha: float, channels: int) -> dict[str, list[Shape]]:
    layers: dict[str, list[Shape]] = {}
    width = channels
    for index, base_filters in enumerate((8, 16, 32), start=1):
        filters = max(1, round(base_filters * alpha))
        layers[f"block{index}_conv"] = [(3, 3, width, filters)]
        layers[f"block{index}_bn"] = [(filters,)] * 4
        width = filters
    return layers
