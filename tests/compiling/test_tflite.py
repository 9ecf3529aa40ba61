import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from tinymlaas.compiling import litert
from tinymlaas.compiling.tflite import ConversionError, convert, tensorflow_versions

FILE_IDENTIFIER = b"TFL3"


@pytest.mark.slow
def test_int8_model_takes_and_returns_int8_with_pixel_range_quantization(int8_model: bytes) -> None:
    model_input, model_output = litert.describe(int8_model)

    assert int8_model[4:8] == FILE_IDENTIFIER
    assert model_input.shape == (1, 32, 32, 1)
    assert (model_input.dtype, model_output.dtype) == ("int8", "int8")
    # Calibration pixels span 0..255, so one int8 step is one pixel value: q = pixel - 128.
    assert model_input.scale == pytest.approx(1.0, rel=1e-6)
    assert model_input.zero_point == -128
    # TFLite fixes int8 softmax outputs to 1/256 steps over 0..1.
    assert model_output.shape == (1, 3)
    assert model_output.scale == 1 / 256
    assert model_output.zero_point == -128


@pytest.mark.slow
def test_int8_input_covers_every_camera_value_even_for_a_dark_dataset(
    trained_model: Any,
) -> None:
    darker = np.minimum(trained_model.train.pixels[:100], 127)

    model_input, _ = litert.describe(convert(trained_model.keras_model, "int8", darker))

    # The calibration always includes a black and a white frame: a device feeds pixel - 128.
    assert model_input.scale == pytest.approx(1.0, rel=1e-3)
    assert model_input.zero_point == -128


@pytest.mark.slow
def test_float32_model_takes_and_returns_float32(float32_model: bytes, int8_model: bytes) -> None:
    model_input, model_output = litert.describe(float32_model)

    assert (model_input.dtype, model_output.dtype) == ("float32", "float32")
    assert (model_input.scale, model_input.zero_point) == (0.0, 0)
    assert (model_output.scale, model_output.zero_point) == (0.0, 0)
    # int8 stores each weight in one byte instead of four.
    assert len(int8_model) < len(float32_model)


@pytest.mark.slow
def test_convert_prints_nothing_on_stdout(
    trained_model: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    convert(trained_model.keras_model, "int8", trained_model.train.pixels[:20])

    assert capfd.readouterr().out == ""


@pytest.mark.slow
def test_convert_rejects_unknown_quantization(trained_model: Any) -> None:
    with pytest.raises(ValueError, match="quantization must be one of int8, float32"):
        convert(trained_model.keras_model, "int4", trained_model.train.pixels[:5])  # type: ignore[arg-type]


@pytest.mark.slow
def test_int8_conversion_needs_representative_samples(trained_model: Any) -> None:
    with pytest.raises(ValueError, match="at least one representative sample"):
        convert(trained_model.keras_model, "int8", trained_model.train.pixels[:0])


def test_converter_failure_raises_conversion_error() -> None:
    with pytest.raises(ConversionError, match=r"TFLite conversion \(float32\) failed: .*call"):
        convert(object(), "float32", np.zeros((1, 32, 32, 1), dtype=np.uint8))


def test_tensorflow_versions_name_the_installed_versions() -> None:
    import keras
    import tensorflow as tf

    versions = tensorflow_versions()

    assert versions["tensorflow"] == tf.__version__
    assert versions["keras"] == keras.__version__
    assert tf.__version__ in versions["tflite_converter"]


def test_importing_the_compiling_modules_does_not_import_tensorflow() -> None:
    code = (
        "import sys\n"
        "import tinymlaas.compiling.tflite, tinymlaas.compiling.litert, tinymlaas.compiling.tflm\n"
        "loaded = sorted(name for name in sys.modules if name.split('.')[0] in "
        "{'tensorflow', 'keras'})\n"
        "print(','.join(loaded))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == ""
