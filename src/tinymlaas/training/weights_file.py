"""Reading and vetting a Keras HDF5 weights file by layer name (h5py and numpy, no TensorFlow).

The format is Keras's legacy HDF5 one, in which Keras publishes its ImageNet weights: a
`layer_names` attribute lists the layers, each layer's group a `weight_names` attribute, and
each weight is a dataset at `<layer>/<weight name>`. `model.save("base.h5")` writes the same
under a `model_weights` group, with the model's configuration beside it (never read here: only
arrays are taken from a file, no code or layer configuration is ever loaded).

A file is untrusted: the API vets an upload with it before storing anything, the worker again
before training. Links to other files, external or virtual datasets, non-float data, non-finite
values and more layers or elements than any MobileNet holds are refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from tinymlaas.training import catalog, pretrained
from tinymlaas.training.pretrained import FIRST_CONVOLUTION, Shape

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_LAYERS = 2_000
MAX_WEIGHTS_PER_LAYER = 8
MAX_ELEMENTS = 50_000_000  # MobileNetV2 α1.4 holds 4.4 M weights without its top


class UnsuitableWeights(ValueError):
    """A file that is not a usable Keras weights file; the message says what is wrong."""


@dataclass(frozen=True)
class Backbone:
    """What a vetted file provides: the architecture, α and input channels it matches."""

    architecture: str
    alpha: float
    channels: int
    layer_count: int
    parameter_count: int


def read_layers(source: Path | IO[bytes]) -> dict[str, list[np.ndarray]]:
    """Every layer with weights in the file, with its arrays as float32, in the file's order."""
    import h5py

    if isinstance(source, Path):
        with source.open("rb") as handle:
            return read_layers(handle)
    if source.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
        raise UnsuitableWeights(
            "not a Keras HDF5 weights file; a .keras file can be converted with"
            " keras.saving.load_model('base.keras').save('base.h5')"
        )
    source.seek(0)
    try:
        with h5py.File(source, "r") as file:
            root = _hard(file, "model_weights") if "model_weights" in file else file
            return dict(_layers(root))
    except UnsuitableWeights:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise UnsuitableWeights(f"unreadable HDF5 weights file: {exc}") from exc


def _layers(root: Any) -> Iterator[tuple[str, list[np.ndarray]]]:
    names = _names(root.attrs, "layer_names")
    if not names:
        raise UnsuitableWeights("the file lists no layers (no 'layer_names' attribute)")
    if len(names) > MAX_LAYERS:
        raise UnsuitableWeights(f"the file lists {len(names)} layers; at most {MAX_LAYERS}")
    elements = 0
    for name in names:
        group = _hard(root, name)
        weight_names = _names(group.attrs, "weight_names")
        if len(weight_names) > MAX_WEIGHTS_PER_LAYER:
            raise UnsuitableWeights(f"layer {name!r} lists {len(weight_names)} weights")
        arrays = []
        for weight_name in weight_names:
            dataset = _hard(group, weight_name)
            elements += _check_dataset(name, weight_name, dataset)
            if elements > MAX_ELEMENTS:
                raise UnsuitableWeights(f"the file holds over {MAX_ELEMENTS} weights")
            array = np.asarray(dataset[()], dtype=np.float32)
            if not np.isfinite(array).all():
                raise UnsuitableWeights(f"weight {weight_name!r} holds NaN or infinite values")
            arrays.append(array)
        if arrays:
            yield name, arrays


def _names(attributes: Any, key: str) -> list[str]:
    values = attributes.get(key)
    if values is None:
        return []
    return [value.decode() if isinstance(value, bytes) else str(value) for value in values]


def _hard(group: Any, path: str) -> Any:
    """The object at `path`, refusing soft and external links on every step of the way."""
    import h5py

    current = group
    for part in path.split("/"):
        link = current.get(part, getlink=True)
        if link is None:
            raise UnsuitableWeights(f"the file lists {path!r} but does not hold it")
        if not isinstance(link, h5py.HardLink):
            raise UnsuitableWeights(f"{path!r} is a link; links are not accepted")
        current = current[part]
    return current


def _check_dataset(layer: str, weight: str, dataset: Any) -> int:
    import h5py

    if not isinstance(dataset, h5py.Dataset):
        raise UnsuitableWeights(f"weight {weight!r} of layer {layer!r} is not an array")
    if dataset.external or dataset.is_virtual:
        raise UnsuitableWeights(f"weight {weight!r} refers to data outside the file")
    if dataset.dtype.kind != "f" or dataset.ndim > 4:
        raise UnsuitableWeights(
            f"weight {weight!r} is {dataset.dtype} with {dataset.ndim} dimensions;"
            " expected floating-point arrays of at most 4"
        )
    return int(np.prod(dataset.shape, dtype=np.int64))


def shapes_of(layers: dict[str, list[np.ndarray]]) -> dict[str, list[Shape]]:
    return {name: [tuple(array.shape) for array in arrays] for name, arrays in layers.items()}


def backbone_problems(
    shapes: dict[str, list[Shape]], architecture: str, alpha: float, channels: int
) -> list[str]:
    """What the file lacks to start this backbone at this many input channels.

    A first convolution over 3 channels also serves grayscale (its kernels are summed over the
    colour channels); one over 1 channel cannot serve RGB.
    """
    problems = []
    first = FIRST_CONVOLUTION[architecture]
    for name, expected in pretrained.backbone_layers(architecture, alpha, channels).items():
        found = shapes.get(name)
        if found is None:
            problems.append(f"layer {name!r} is missing")
        elif name == first and channels == 1 and found == _with_channels(expected, 3):
            continue
        elif found != expected:
            problems.append(f"layer {name!r} has weights {found}, expected {expected}")
    return problems


def _with_channels(shapes: list[Shape], channels: int) -> list[Shape]:
    (kernel,) = shapes
    return [(kernel[0], kernel[1], channels, kernel[3])]


def identify(shapes: dict[str, list[Shape]]) -> Backbone:
    """The trainable architecture and α whose backbone the file holds completely."""
    closest: tuple[int, str, list[str]] | None = None
    for spec in catalog.ARCHITECTURES.values():
        for alpha in spec.alphas:
            for channels in (3, 1):
                problems = backbone_problems(shapes, spec.id, alpha, channels)
                if not problems:
                    layers = pretrained.backbone_layers(spec.id, alpha, channels)
                    count = sum(int(np.prod(shape)) for name in layers for shape in shapes[name])
                    return Backbone(spec.id, alpha, channels, len(layers), count)
                label = f"{spec.id} α{alpha:g}"
                if closest is None or len(problems) < closest[0]:
                    closest = (len(problems), label, problems)
    offered = "; ".join(
        f"{spec.id} α {', '.join(f'{alpha:g}' for alpha in spec.alphas)}"
        for spec in catalog.ARCHITECTURES.values()
    )
    detail = ""
    if closest is not None:
        detail = f"; closest is {closest[1]}: {'; '.join(closest[2][:3])}"
    raise UnsuitableWeights(
        f"the file holds no complete backbone of a trainable architecture ({offered}) with"
        f" Keras's layer names{detail}"
    )


def store_in_cache(source: Path, weights_dir: Path, file: pretrained.ImagenetFile) -> Path:
    """Vet an ImageNet file an administrator brings, then put it in the cache under Keras's
    name (written beside it first, then renamed: a reader never sees half a file)."""
    problems = backbone_problems(shapes_of(read_layers(source)), file.architecture, file.alpha, 3)
    if problems:
        raise UnsuitableWeights(
            f"not the {file.architecture} α{file.alpha:g} backbone {file.filename} holds:"
            f" {'; '.join(problems[:3])}"
        )
    weights_dir.mkdir(parents=True, exist_ok=True)
    target = weights_dir / file.filename
    partial = target.with_name(f".{file.filename}.partial")
    partial.write_bytes(source.read_bytes())
    partial.replace(target)
    return target
