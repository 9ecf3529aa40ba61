from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tinymlaas.compiling.litert import (
    TensorInfo,
    check_model,
    dequantize_output,
    describe,
    predict,
    quantize_input,
)

INT8_PIXELS = TensorInfo(shape=(1, 2, 2, 1), dtype="int8", scale=1.0, zero_point=-128)
FLOAT_PIXELS = TensorInfo(shape=(1, 2, 2, 1), dtype="float32", scale=0.0, zero_point=0)
SOFTMAX_INT8 = TensorInfo(shape=(1, 3), dtype="int8", scale=1 / 256, zero_point=-128)


def pixels(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.uint8).reshape(-1, 2, 2, 1)


def test_quantize_input_with_unit_scale_subtracts_128() -> None:
    quantized = quantize_input(pixels(0, 1, 128, 255), INT8_PIXELS)

    assert quantized.dtype == np.int8
    assert quantized.ravel().tolist() == [-128, -127, 0, 127]


def test_quantize_input_rounds_half_away_from_zero_and_clamps() -> None:
    info = TensorInfo(shape=(1, 2, 2, 1), dtype="int8", scale=2.0, zero_point=-10)

    # 1/2 = 0.5 -> 1, 5/2 = 2.5 -> 3 (not banker's 2), 255/2 = 127.5 -> 128 - 10.
    assert quantize_input(pixels(1, 5, 255, 0), info).ravel().tolist() == [-9, -7, 118, -10]
    narrow = TensorInfo(shape=(1, 2, 2, 1), dtype="int8", scale=0.5, zero_point=0)
    assert quantize_input(pixels(0, 63, 64, 255), narrow).ravel().tolist() == [0, 126, 127, 127]


def test_quantize_input_passes_raw_pixels_to_float_models() -> None:
    quantized = quantize_input(pixels(0, 7, 200, 255), FLOAT_PIXELS)

    assert quantized.dtype == np.float32
    assert quantized.ravel().tolist() == [0.0, 7.0, 200.0, 255.0]


@pytest.mark.parametrize(
    ("bad_pixels", "message"),
    [
        (np.zeros((1, 2, 2, 1), dtype=np.float32), "must be uint8"),
        (np.zeros((1, 3, 2, 1), dtype=np.uint8), r"shape \(N, 2, 2, 1\)"),
        (np.zeros((2, 2, 1), dtype=np.uint8), r"shape \(N, 2, 2, 1\)"),
    ],
)
def test_quantize_input_rejects_wrong_pixels(bad_pixels: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        quantize_input(bad_pixels, INT8_PIXELS)


def test_dequantize_output_maps_int8_steps_to_scores() -> None:
    raw = np.array([[-128, 0, 127]], dtype=np.int8)

    scores = dequantize_output(raw, SOFTMAX_INT8)

    assert scores.dtype == np.float32
    assert scores.tolist() == [[0.0, 0.5, 255 / 256]]


def test_dequantize_output_passes_float_scores_through() -> None:
    raw = np.array([[0.25, 0.75]], dtype=np.float32)

    assert dequantize_output(raw, FLOAT_PIXELS).tolist() == [[0.25, 0.75]]


@pytest.mark.slow
def test_int8_accuracy_is_close_to_keras_float_accuracy(
    trained_model: Any, int8_model: bytes
) -> None:
    held_out = trained_model.held_out

    scores = predict(int8_model, held_out.pixels)
    accuracy = float(np.mean(scores.argmax(axis=1) == held_out.labels))

    assert scores.shape == (len(held_out.labels), 3)
    assert trained_model.float_accuracy > 0.9
    assert accuracy >= trained_model.float_accuracy - 0.1
    assert np.all(scores >= 0)
    assert np.all(scores <= 1)


@pytest.mark.slow
def test_float32_model_matches_keras(trained_model: Any, float32_model: bytes) -> None:
    held_out = trained_model.held_out.pixels[:50]

    scores = predict(float32_model, held_out)
    expected = trained_model.keras_model.predict(held_out.astype(np.float32), verbose=0)

    np.testing.assert_allclose(scores, expected, atol=1e-5)


@pytest.mark.slow
def test_predict_of_several_images_equals_one_by_one(
    int8_model: bytes, images: Callable[[int, int], Any]
) -> None:
    batch = images(6, 11).pixels

    together = predict(int8_model, batch)
    separately = np.concatenate([predict(int8_model, image[np.newaxis]) for image in batch])

    np.testing.assert_array_equal(together, separately)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (b"", "identifier 'TFL3' is missing"),
        (
            bytes(np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8)),
            "'TFL3' is missing",
        ),
        (b"\x00\x00\x00\x00TFL3" + bytes(200), "invalid TFLite model"),
    ],
)
def test_describe_rejects_what_is_not_a_model(model: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        describe(model)


@pytest.mark.slow
def test_check_model_rejects_a_truncated_model(int8_model: bytes) -> None:
    check_model(int8_model)

    with pytest.raises(ValueError, match="invalid TFLite model"):
        check_model(int8_model[: len(int8_model) // 2])
