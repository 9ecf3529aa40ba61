import random
from typing import Any

import numpy as np
import pytest

from tinymlaas.compiling import tflite, tflm
from tinymlaas.training.architectures import (
    augmentation,
    build_model,
    recalibrate_batch_norm,
)
from tinymlaas.training.catalog import ARCHITECTURES, InvalidTrainingConfig, estimate

keras = pytest.importorskip("keras")

EVERY_ALPHA = [(spec.id, alpha) for spec in ARCHITECTURES.values() for alpha in spec.alphas]
SMALLEST_ALPHA = [(spec.id, min(spec.alphas)) for spec in ARCHITECTURES.values()]


def random_images(count: int, height: int, width: int, channels: int, seed: int) -> np.ndarray:
    """Return `count` float32 images of uniform random raw pixel values 0–255."""
    generator = np.random.default_rng(seed)
    return generator.uniform(0, 255, (count, height, width, channels)).astype(np.float32)


def separable_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return raw 0–255 32×32×1 images of 3 classes: bright left, right or top half, plus noise."""
    generator = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    images = generator.uniform(0, 60, (count, 32, 32, 1)).astype(np.float32)
    images[labels == 0, :, :16] += 180
    images[labels == 1, :, 16:] += 180
    images[labels == 2, :16, :] += 180
    return images, labels


def weights_of(model: Any) -> list[np.ndarray]:
    return [np.asarray(weight) for weight in model.get_weights()]


@pytest.mark.parametrize(("architecture", "alpha"), EVERY_ALPHA)
def test_every_architecture_builds_with_the_measured_parameter_count(
    architecture: str, alpha: float
) -> None:
    model = build_model(architecture, alpha, (96, 96, 1), 3, seed=0)

    assert tuple(model.input_shape) == (None, 96, 96, 1)
    assert tuple(model.output_shape) == (None, 3)
    assert model.count_params() == ARCHITECTURES[architecture].footprints[alpha].parameters


@pytest.mark.parametrize(("architecture", "alpha"), EVERY_ALPHA)
def test_parameter_estimate_is_exact_for_other_shapes(architecture: str, alpha: float) -> None:
    model = build_model(architecture, alpha, (48, 64, 3), 7)

    assert tuple(model.input_shape) == (None, 48, 64, 3)
    assert tuple(model.output_shape) == (None, 7)
    assert model.count_params() == estimate(architecture, alpha, 64, 48, 3, 7).parameters


@pytest.mark.parametrize(
    ("architecture", "scale", "offset"),
    [
        ("cnn-small", 1 / 255, 0.0),
        ("mobilenet-v1", 1 / 127.5, -1.0),
        ("mobilenet-v2", 1 / 127.5, -1.0),
    ],
)
def test_raw_pixels_in_rescaled_inside_softmax_out(
    architecture: str, scale: float, offset: float
) -> None:
    model = build_model(architecture, min(ARCHITECTURES[architecture].alphas), (32, 40, 3), 4)

    rescale = model.get_layer("rescale")
    assert rescale.scale == pytest.approx(scale)
    assert rescale.offset == pytest.approx(offset)
    assert model.layers[1] is rescale, "rescaling must be the first layer after the input"
    assert model.inputs[0].dtype == "float32"
    classifier = model.get_layer("classifier")
    assert classifier.activation.__name__ == "softmax"
    assert model.get_layer("global_pool") is not None
    assert not [layer.name for layer in model.layers if type(layer).__name__.startswith("Random")]
    scores = np.asarray(model(np.full((2, 32, 40, 3), 255.0, dtype=np.float32)))
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)


def test_same_seed_same_weights_and_global_random_state_untouched() -> None:
    random.seed(1234)
    before = random.getstate()

    first = build_model("mobilenet-v2", 0.05, (32, 32, 1), 3, seed=7)
    second = build_model("mobilenet-v2", 0.05, (32, 32, 1), 3, seed=7)
    other = build_model("mobilenet-v2", 0.05, (32, 32, 1), 3, seed=8)

    assert random.getstate() == before
    for left, right in zip(weights_of(first), weights_of(second), strict=True):
        np.testing.assert_array_equal(left, right)
    assert any(
        not np.array_equal(left, right)
        for left, right in zip(weights_of(first), weights_of(other), strict=True)
    )


def test_unseeded_builds_differ() -> None:
    first = build_model("cnn-small", 1.0, (16, 16, 1), 2)
    second = build_model("cnn-small", 1.0, (16, 16, 1), 2)

    assert not np.array_equal(weights_of(first)[0], weights_of(second)[0])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("mobilenet-v1", 0.25, (31, 96, 1), 3), "input_height 31 is too small"),
        (("cnn-small", 1.0, (32, 32, 4), 3), "channels must be 1 \\(grayscale\\) or 3"),
        (("cnn-small", 1.0, (32, 32, 1), 1), "at least 2 classes"),
        (("mobilenet-v2", 0.5, (96, 96, 1), 3), "allowed: 0.05, 0.1, 0.35"),
    ],
)
def test_invalid_configurations_are_rejected(arguments: tuple[Any, ...], message: str) -> None:
    with pytest.raises(InvalidTrainingConfig, match=message):
        build_model(*arguments)


@pytest.fixture(scope="module")
def trained_cnn() -> Any:
    """A cnn-small fitted on separable synthetic data, with its held-out set."""
    images, labels = separable_images(240, seed=1)
    model = build_model("cnn-small", 1.0, (32, 32, 1), 3, seed=3)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(images, labels, epochs=8, batch_size=16, verbose=0, shuffle=False)
    return model


@pytest.mark.slow
def test_cnn_small_learns_separable_data(trained_cnn: Any) -> None:
    images, labels = separable_images(90, seed=2)

    predictions = np.argmax(trained_cnn.predict(images, verbose=0), axis=1)

    assert np.mean(predictions == labels) >= 0.9


def interpret_int8(model_bytes: bytes, images: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """Run raw 0–255 images through an int8 model in LiteRT; return argmaxes and input details."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_bytes)
    interpreter.allocate_tensors()
    input_details = interpreter.get_input_details()[0]
    output_details = interpreter.get_output_details()[0]
    scale, zero_point = input_details["quantization"]
    predictions = []
    for image in images:
        quantized = np.clip(np.round(image / scale + zero_point), -128, 127).astype(np.int8)
        interpreter.set_tensor(input_details["index"], quantized[np.newaxis])
        interpreter.invoke()
        predictions.append(int(np.argmax(interpreter.get_tensor(output_details["index"])[0])))
    return np.array(predictions), input_details


@pytest.mark.slow
def test_trained_cnn_converts_to_int8_with_raw_pixel_input(trained_cnn: Any) -> None:
    train_images, _ = separable_images(60, seed=4)
    test_images, test_labels = separable_images(90, seed=5)

    model_bytes = tflite.convert(trained_cnn, "int8", train_images[:20])
    predictions, input_details = interpret_int8(model_bytes, test_images)

    assert input_details["dtype"] == np.int8
    scale, zero_point = input_details["quantization"]
    # Camera bytes 0…255 map onto the whole int8 range: q = pixel − 128.
    assert scale == pytest.approx(1.0, abs=0.01)
    assert zero_point == -128
    assert np.mean(predictions == test_labels) >= 0.9


@pytest.mark.slow
@pytest.mark.parametrize(("architecture", "alpha"), SMALLEST_ALPHA)
def test_full_int8_conversion_runs_in_tflite_micro(architecture: str, alpha: float) -> None:
    model = build_model(architecture, alpha, (48, 48, 1), 3, seed=0)
    recalibrate_batch_norm(model, random_images(32, 48, 48, 1, seed=0))

    model_bytes = tflite.convert(model, "int8", random_images(20, 48, 48, 1, seed=1))
    arena = tflm.measure_arena(model_bytes)

    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_bytes)
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    operators = {detail["op_name"] for detail in interpreter._get_ops_details()}
    assert not operators - {
        "MUL", "ADD", "CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "PAD", "MEAN",
        "FULLY_CONNECTED", "SOFTMAX", "QUANTIZE", "RESHAPE",
    }  # fmt: skip
    # The runtime's allocation report was read (not the bisection fallback).
    assert arena.method == "print_allocations"
    assert abs(arena.arena_bytes - estimate(architecture, alpha, 48, 48, 1, 3).arena_bytes) < (
        0.1 * arena.arena_bytes
    )


def test_recalibration_only_changes_batch_norm_statistics() -> None:
    model = build_model("mobilenet-v1", 0.1, (32, 32, 1), 3, seed=0)
    images = np.random.default_rng(0).uniform(0, 255, (40, 32, 32, 1)).astype(np.float32)
    trainable_before = [np.asarray(weight) for weight in model.trainable_weights]
    untrained = np.asarray(model(images[:4]))

    recalibrate_batch_norm(model, images, batch_size=16)

    for before, after in zip(trainable_before, model.trainable_weights, strict=True):
        np.testing.assert_array_equal(before, np.asarray(after))
    # Uncalibrated, activations vanish through the depthwise layers: every image scores the same.
    np.testing.assert_allclose(untrained, untrained[0:1].repeat(4, axis=0), atol=1e-4)
    calibrated = np.asarray(model(images[:4]))
    assert np.abs(calibrated - calibrated[0:1]).max() > 1e-3
    momenta = {
        layer.momentum
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    assert momenta == {0.99}, "the layers' momentum is restored"


def test_augmentation_off_is_none() -> None:
    assert augmentation(False, 0.0, 0.0, 0.0, seed=1) is None


def test_augmentation_layers_and_value_range() -> None:
    pipeline = augmentation(True, 0.1, 0.2, 0.3, seed=5)

    assert [layer.name for layer in pipeline.layers] == [
        "random_flip",
        "random_rotation",
        "random_zoom",
        "random_brightness",
    ]
    images = np.random.default_rng(0).uniform(0, 255, (8, 24, 24, 1)).astype(np.float32)
    augmented = np.asarray(pipeline(images, training=True))
    assert augmented.shape == images.shape
    assert augmented.min() >= 0.0
    assert augmented.max() <= 255.0
    assert not np.allclose(augmented, images)


def test_seeded_augmentation_repeats() -> None:
    images = np.random.default_rng(0).uniform(0, 255, (8, 24, 24, 3)).astype(np.float32)

    first = np.asarray(augmentation(True, 0.2, 0.0, 0.2, seed=9)(images, training=True))
    second = np.asarray(augmentation(True, 0.2, 0.0, 0.2, seed=9)(images, training=True))

    np.testing.assert_allclose(first, second)


def test_flip_is_horizontal_only() -> None:
    images = np.random.default_rng(1).uniform(0, 255, (16, 8, 8, 1)).astype(np.float32)

    flipped = np.asarray(augmentation(True, 0.0, 0.0, 0.0, seed=3)(images, training=True))

    outcomes = [
        "same"
        if np.allclose(out, image)
        else "mirrored"
        if np.allclose(out, image[:, ::-1])
        else "?"
        for out, image in zip(flipped, images, strict=True)
    ]
    assert "?" not in outcomes
    assert {"same", "mirrored"} == set(outcomes)


@pytest.mark.parametrize("field", ["rotation", "zoom", "brightness"])
def test_augmentation_rejects_out_of_range_factors(field: str) -> None:
    factors = {"rotation": 0.0, "zoom": 0.0, "brightness": 0.0, field: 1.5}

    with pytest.raises(
        InvalidTrainingConfig, match=f"augmentation.{field} must be between 0 and 1"
    ):
        augmentation(True, seed=None, **factors)


def batch_norms(model: Any) -> list[Any]:
    found = []
    for layer in model.layers:
        found += batch_norms(layer) if hasattr(layer, "layers") else []
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
    return found


def test_recalibrated_statistics_are_the_mean_of_the_batch_statistics() -> None:
    model = build_model("mobilenet-v1", 0.1, (32, 32, 1), 3, seed=0)
    images = np.random.default_rng(1).uniform(0, 255, (40, 32, 32, 1)).astype(np.float32)
    norms = batch_norms(model)
    # What it must equal: each batch's statistics, measured eagerly one layer input at a time.
    expected_means = [np.zeros(layer.moving_mean.shape) for layer in norms]
    expected_variances = [np.zeros(layer.moving_variance.shape) for layer in norms]
    probe = keras.Model(model.inputs, [layer.input for layer in norms])
    batches = [images[start : start + 16] for start in range(0, 40, 16)]  # 16, 16 and 8
    for batch in batches:
        for index, inputs in enumerate(probe(batch, training=True)):
            values = np.asarray(inputs, np.float64).reshape(-1, inputs.shape[-1])
            expected_means[index] += values.mean(axis=0) / len(batches)
            expected_variances[index] += values.var(axis=0) / len(batches)

    recalibrate_batch_norm(model, images, batch_size=16)

    for layer, mean, variance in zip(norms, expected_means, expected_variances, strict=True):
        np.testing.assert_allclose(np.asarray(layer.moving_mean), mean, rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(
            np.asarray(layer.moving_variance), variance, rtol=1e-3, atol=1e-3
        )


def test_frozen_batch_norms_keep_their_statistics_until_unfrozen() -> None:
    model = build_model("mobilenet-v1", 0.1, (32, 32, 1), 3, seed=0)
    images = np.random.default_rng(2).uniform(0, 255, (32, 32, 32, 1)).astype(np.float32)
    norms = batch_norms(model)
    for layer in norms:
        layer.trainable = False
    before = [np.asarray(layer.moving_mean).copy() for layer in norms]

    recalibrate_batch_norm(model, images, batch_size=16)

    for layer, mean in zip(norms, before, strict=True):
        np.testing.assert_array_equal(np.asarray(layer.moving_mean), mean)
    for layer in norms:  # unfrozen (as fine-tuning does): the next recalibration updates them
        layer.trainable = True
    recalibrate_batch_norm(model, images, batch_size=16)
    assert any(
        not np.allclose(np.asarray(layer.moving_mean), mean)
        for layer, mean in zip(norms, before, strict=True)
    )
