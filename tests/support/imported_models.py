"""Models as other tools would hand them to `POST /models/import`: a tiny Keras CNN with a
depthwise convolution, trained on the pattern images, and its int8 .tflite from the project's
converter; plus rewrites of that flatbuffer (tflite-micro's object API) for hostile files."""

from __future__ import annotations

import copy
import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from support.factories import pattern_image

SIZE = 16
# pattern_dataset_zip's labels in the order of their pattern kinds: the model's output order.
CLASSES = ["dark", "bright", "left"]


@dataclass(frozen=True)
class ImportableModel:
    keras_bytes: bytes
    tflite_bytes: bytes  # int8 input and output, made by the project's converter


def pattern_pixels(per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The pattern images as the compile job sees them: (N, 16, 16, 1) uint8 and labels."""
    from tinymlaas.training.preprocess import batch_to_pixels

    images, labels = [], []
    for kind in range(len(CLASSES)):
        for index in range(per_class):
            images.append(pattern_image(kind, seed=kind * 1000 + index))
            labels.append(kind)
    return batch_to_pixels(images, SIZE, SIZE, "grayscale"), np.array(labels)


def train_importable_model() -> ImportableModel:
    """Train the CNN (conv, depthwise conv, dense softmax over CLASSES) and convert it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from tinymlaas.compiling.tflite import convert

    keras.utils.set_random_seed(3)
    pixels, labels = pattern_pixels(per_class=30)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(4, 3, strides=2, activation="relu"),
            keras.layers.DepthwiseConv2D(3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(len(CLASSES), activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    model.fit(pixels.astype(np.float32), labels, epochs=15, batch_size=16, verbose=0)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        with open(path, "rb") as file:
            keras_bytes = file.read()
    return ImportableModel(keras_bytes, convert(model, "int8", pixels))


def rewrite(model: bytes, change: Callable[[Any], None]) -> bytes:
    """The flatbuffer after `change(tree)` edits its object tree (schema ModelT)."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    tree = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    change(tree)
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def depthwise_biases(tree: Any) -> list[Any]:
    """The bias tensors of the depthwise convolutions."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    graph = tree.subgraphs[0]
    found = []
    for operator in graph.operators:
        code = tree.operatorCodes[operator.opcodeIndex]
        if (
            max(code.builtinCode, code.deprecatedBuiltinCode)
            == schema.BuiltinOperator.DEPTHWISE_CONV_2D
        ):
            found.append(graph.tensors[operator.inputs[2]])
    return found


def with_old_converter_bias_dimension(model: bytes) -> bytes:
    """The model as older converters wrote it: depthwise biases with quantized_dimension 3."""

    def change(tree: Any) -> None:
        biases = depthwise_biases(tree)
        assert biases, "the model has no depthwise convolution"
        for bias in biases:
            assert len(bias.shape) == 1
            assert len(bias.quantization.scale) > 1
            bias.quantization.quantizedDimension = 3

    return rewrite(model, change)


def with_second_subgraph(tree: Any) -> None:
    tree.subgraphs.append(copy.deepcopy(tree.subgraphs[0]))


def keras_file_without_config(keras_bytes: bytes) -> bytes:
    """A zip that looks like a .keras but has no config.json."""
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(keras_bytes)) as source, zipfile.ZipFile(buffer, "w") as out:
        for name in source.namelist():
            if name != "config.json":
                out.writestr(name, source.read(name))
    return buffer.getvalue()
