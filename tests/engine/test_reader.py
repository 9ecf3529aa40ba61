"""The reader refuses what the engine cannot run, with a message naming what."""

from __future__ import annotations

import numpy as np
import pytest

from tinymlaas.engine import reader
from tinymlaas.engine.errors import UnsupportedModel, UnsupportedOperator
from tinymlaas.engine.reader import read_model


@pytest.mark.parametrize(
    "data",
    [b"", b"hello", b"PK\x03\x04" + bytes(100), bytes(range(256)) * 4],
    ids=["empty", "text", "zip", "noise"],
)
def test_not_a_tflite_file(data: bytes) -> None:
    with pytest.raises(UnsupportedModel, match="not a .tflite model"):
        read_model(data)


def test_corrupt_flatbuffer_with_the_identifier() -> None:
    data = b"\xff\xff\xff\x7fTFL3" + bytes(range(256)) * 2
    with pytest.raises(UnsupportedModel, match="flatbuffer"):
        read_model(data)


def test_unsupported_model_is_a_client_error() -> None:
    assert UnsupportedModel("x").status_code == 422
    error = UnsupportedOperator("TANH")
    assert error.status_code == 422
    assert "TANH" in error.detail
    assert "tflm" in error.detail


@pytest.mark.slow
def test_reads_a_real_model(cnn_small_gray: bytes) -> None:
    graph = read_model(cnn_small_gray)
    names = [operator.name for operator in graph.operators]
    assert names[0] == "CONV_2D"
    assert names[-1] == "SOFTMAX"
    conv = graph.operators[0]
    assert conv.options["padding"] == "SAME"
    assert conv.options["stride"] == (1, 1)
    weights = graph.tensors[conv.inputs[1]]
    assert weights.data is not None
    assert weights.data.dtype == np.int8
    assert weights.quantization is not None
    assert len(weights.quantization.scales) == weights.shape[0]  # per output channel
    source = graph.tensors[graph.inputs[0]]
    assert source.shape == (1, 32, 32, 1)
    assert source.dtype == "INT8"


@pytest.mark.slow
def test_tensor_size_limit(cnn_small_gray: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "MAX_TENSOR_BYTES", 512)
    with pytest.raises(UnsupportedModel, match="over the 512-byte limit"):
        read_model(cnn_small_gray)


def _convert(layers: list[object], shape: tuple[int, ...], int8: bool) -> bytes:
    import keras

    from tinymlaas.compiling.tflite import convert

    model = keras.Sequential([keras.Input(shape, batch_size=1), *layers])
    samples = np.random.default_rng(0).integers(0, 256, (8, *shape)).astype(np.uint8)
    return convert(model, "int8" if int8 else "float32", samples)


@pytest.mark.slow
def test_unsupported_operator_is_named() -> None:
    import keras

    model = _convert(
        [keras.layers.Flatten(), keras.layers.Dense(4, activation="tanh")], (4, 4, 1), True
    )
    with pytest.raises(UnsupportedOperator, match="TANH") as caught:
        read_model(model)
    assert caught.value.operator == "TANH"


@pytest.mark.slow
def test_every_unsupported_operator_is_named() -> None:
    import keras

    from tinymlaas.compiling.tflite import convert

    model = keras.Sequential(
        [keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(4, activation="tanh")]
    )
    samples = np.random.default_rng(0).integers(0, 256, (8, 4, 4, 1)).astype(np.uint8)
    with pytest.raises(UnsupportedOperator) as caught:
        read_model(convert(model, "int8", samples))
    # A dynamic batch makes the converter compute the flattened shape at run time.
    assert "SHAPE" in caught.value.operator
    assert "TANH" in caught.value.operator


@pytest.mark.slow
def test_float_model_is_refused() -> None:
    import keras

    model = _convert([keras.layers.Flatten(), keras.layers.Dense(4)], (4, 4, 1), False)
    with pytest.raises(UnsupportedModel, match="FLOAT32"):
        read_model(model)
