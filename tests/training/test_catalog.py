import subprocess
import sys
from dataclasses import dataclass

import pytest

from tinymlaas.training.catalog import (
    ARCHITECTURES,
    REFERENCE_CLASSES,
    REFERENCE_SIZE,
    InvalidTrainingConfig,
    estimate,
    validate,
    validate_shape,
)

# Documented estimate error (see catalog.estimate): arena −0.5%…0%, flash −1.2%…0%.
ARENA_TOLERANCE = (-0.01, 0.01)
FLASH_TOLERANCE = 0.02


@dataclass(frozen=True)
class Measured:
    parameters: int
    tflite_bytes: int
    arena_bytes: int


def measure(
    architecture: str, alpha: float, width: int, height: int, channels: int, classes: int
) -> Measured:
    """Build, calibrate, convert and measure one configuration with the compiling job's code."""
    import numpy as np

    from tinymlaas.compiling import tflite, tflm
    from tinymlaas.training.architectures import build_model, recalibrate_batch_norm

    def random_images(count: int, seed: int) -> np.ndarray:
        generator = np.random.default_rng(seed)
        return generator.uniform(0, 255, (count, height, width, channels)).astype(np.float32)

    model = build_model(architecture, alpha, (height, width, channels), classes, seed=0)
    recalibrate_batch_norm(model, random_images(32, 0))
    model_bytes = tflite.convert(model, "int8", random_images(20, 1))
    arena = tflm.measure_arena(model_bytes)
    return Measured(int(model.count_params()), len(model_bytes), arena.arena_bytes)


def test_catalog_offers_the_three_architectures_and_their_alphas() -> None:
    offered = {spec.id: spec.alphas for spec in ARCHITECTURES.values()}

    assert offered == {
        "cnn-small": (0.5, 1.0, 2.0),
        "mobilenet-v1": (0.1, 0.2, 0.25, 0.5),
        "mobilenet-v2": (0.05, 0.1, 0.35),
    }
    assert ARCHITECTURES["cnn-small"].min_input == 16
    assert ARCHITECTURES["mobilenet-v1"].min_input == 32
    assert ARCHITECTURES["mobilenet-v2"].min_input == 32


@pytest.mark.parametrize("architecture_id", list(ARCHITECTURES))
def test_every_alpha_has_a_measured_footprint(architecture_id: str) -> None:
    architecture = ARCHITECTURES[architecture_id]
    assert set(architecture.footprints) == set(architecture.alphas)
    assert architecture.default_alpha in architecture.alphas
    assert architecture.min_input <= architecture.default_input <= architecture.max_input
    for footprint in architecture.footprints.values():
        assert 0 < footprint.arena_persistent_bytes < footprint.arena_bytes
        assert footprint.arena_rgb_extra_bytes >= 0
    # Wider networks are bigger: the table is ordered by alpha.
    sizes = [architecture.footprints[alpha].tflite_bytes for alpha in architecture.alphas]
    assert sizes == sorted(sizes)


def test_unknown_architecture_lists_the_known_ones() -> None:
    with pytest.raises(InvalidTrainingConfig) as raised:
        validate("resnet-50", None, 96, 96)

    assert raised.value.field == "architecture"
    assert str(raised.value) == (
        "architecture 'resnet-50' is unknown; known: cnn-small, mobilenet-v1, mobilenet-v2"
    )


def test_alpha_not_offered_lists_the_allowed_ones() -> None:
    with pytest.raises(InvalidTrainingConfig) as raised:
        validate("mobilenet-v1", 0.3, 96, 96)

    assert raised.value.field == "alpha"
    assert str(raised.value) == (
        "alpha 0.3 is not offered for mobilenet-v1; allowed: 0.1, 0.2, 0.25, 0.5"
    )


@pytest.mark.parametrize(
    ("architecture", "width", "height", "field", "message"),
    [
        (
            "mobilenet-v2",
            31,
            96,
            "input_width",
            "input_width 31 is too small for mobilenet-v2: the minimum is 32",
        ),
        (
            "cnn-small",
            96,
            15,
            "input_height",
            "input_height 15 is too small for cnn-small: the minimum is 16",
        ),
        (
            "mobilenet-v1",
            96,
            321,
            "input_height",
            "input_height 321 is too large for mobilenet-v1: the maximum is 320",
        ),
    ],
)
def test_input_size_limits_name_the_field_and_the_limit(
    architecture: str, width: int, height: int, field: str, message: str
) -> None:
    with pytest.raises(InvalidTrainingConfig) as raised:
        validate(architecture, None, width, height)

    assert raised.value.field == field
    assert str(raised.value) == message


def test_invalid_training_config_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown"):
        validate("nope", None, 96, 96)


def test_validate_returns_the_default_alpha_and_the_catalog_value() -> None:
    spec, alpha = validate("mobilenet-v2", None, 32, 320)
    assert spec is ARCHITECTURES["mobilenet-v2"]
    assert alpha == spec.default_alpha

    # A float that went through arithmetic or JSON still matches, and comes back canonical.
    _, alpha = validate("mobilenet-v2", 0.1 + 0.25, 96, 96)
    assert alpha == 0.35
    assert 0.35 in spec.footprints


@pytest.mark.parametrize(
    ("channels", "num_classes", "field", "message"),
    [
        (2, 3, "channels", "channels must be 1 (grayscale) or 3 (rgb), got 2"),
        (1, 1, "num_classes", "at least 2 classes are needed, got 1"),
    ],
)
def test_validate_shape(channels: int, num_classes: int, field: str, message: str) -> None:
    with pytest.raises(InvalidTrainingConfig) as raised:
        validate_shape(channels, num_classes)

    assert raised.value.field == field
    assert str(raised.value) == message


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_estimate_at_the_reference_returns_the_measurement(architecture: str) -> None:
    spec = ARCHITECTURES[architecture]
    for alpha, measured in spec.footprints.items():
        guess = estimate(architecture, alpha, REFERENCE_SIZE, REFERENCE_SIZE, 1, REFERENCE_CLASSES)

        assert guess.parameters == measured.parameters
        assert guess.flash_bytes == measured.tflite_bytes
        assert guess.arena_bytes == measured.arena_bytes
        assert guess.input_bytes == REFERENCE_SIZE * REFERENCE_SIZE
        assert f"{architecture} α{alpha:g}" in guess.basis


def test_the_estimate_says_it_is_scaled_from_a_reference_not_measured_on_this_model() -> None:
    guess = estimate("cnn-small", 1.0, 64, 48, 3, 5)

    assert guess.basis.startswith("estimate for cnn-small α1 at 64×48×3, 5 classes, scaled from")
    assert (
        f"reference model of the same architecture measured at {REFERENCE_SIZE}×{REFERENCE_SIZE}×1"
        f" with {REFERENCE_CLASSES} classes"
    ) in guess.basis


def test_estimate_grows_with_pixels_channels_and_classes() -> None:
    small = estimate("mobilenet-v1", 0.25, 64, 64, 1, 3)
    large = estimate("mobilenet-v1", 0.25, 128, 128, 1, 3)
    color = estimate("mobilenet-v1", 0.25, 64, 64, 3, 3)
    many = estimate("mobilenet-v1", 0.25, 64, 64, 1, 20)

    assert small.arena_bytes < large.arena_bytes
    assert small.flash_bytes == large.flash_bytes
    assert color.arena_bytes > small.arena_bytes
    assert color.input_bytes == 3 * small.input_bytes == 3 * 64 * 64
    # 256 features → 17 extra classes × (256 int8 weights + int32 bias).
    assert many.flash_bytes - small.flash_bytes == 17 * (256 + 4)
    assert many.parameters - small.parameters == 17 * (256 + 1)


def test_estimate_rejects_what_validate_rejects() -> None:
    with pytest.raises(InvalidTrainingConfig, match="the minimum is 32"):
        estimate("mobilenet-v1", 0.25, 16, 16, 1, 3)
    with pytest.raises(InvalidTrainingConfig, match="at least 2 classes"):
        estimate("cnn-small", 1.0, 64, 64, 1, 1)


def test_pure_modules_import_no_tensorflow_or_web_stack() -> None:
    code = (
        "import sys\n"
        "import tinymlaas.training.catalog, tinymlaas.training.metrics\n"
        "import tinymlaas.training.preprocess, tinymlaas.training.architectures\n"
        "heavy = ('tensorflow', 'keras', 'fastapi', 'sqlalchemy')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == "[]"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("architecture", "alpha", "width", "height", "channels", "classes"),
    [
        ("cnn-small", 1.0, 64, 64, 1, 3),
        ("mobilenet-v1", 0.25, 64, 64, 1, 3),
        ("mobilenet-v2", 0.05, 64, 64, 3, 10),
    ],
)
def test_estimate_is_close_to_a_real_measurement(
    architecture: str, alpha: float, width: int, height: int, channels: int, classes: int
) -> None:
    real = measure(architecture, alpha, width, height, channels, classes)

    guess = estimate(architecture, alpha, width, height, channels, classes)

    assert guess.parameters == real.parameters
    flash_error = (guess.flash_bytes - real.tflite_bytes) / real.tflite_bytes
    assert abs(flash_error) <= FLASH_TOLERANCE
    arena_error = (guess.arena_bytes - real.arena_bytes) / real.arena_bytes
    low, high = ARENA_TOLERANCE
    assert low <= arena_error <= high, (guess.arena_bytes, real.arena_bytes)
