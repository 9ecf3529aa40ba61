"""Convert Keras models to .tflite flatbuffers (worker side: TensorFlow is imported lazily)."""

import logging
import os
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from tinymlaas.contracts import QUANTIZATIONS, Quantization

logger = logging.getLogger(__name__)


class ConversionError(RuntimeError):
    """The TFLite converter rejected the model."""


def convert(model: Any, quantization: Quantization, representative: np.ndarray) -> bytes:
    """Convert a Keras model to a .tflite flatbuffer.

    int8 is full-integer post-training quantization (int8 input and output tensors) calibrated on
    every sample of `representative` (N, H, W, C) in raw 0..255 pixels; float32 ignores it. The
    input scale follows the calibration range, so `representative` should span the pixel values
    the device will see (a range of 0..255 gives scale 1 and zero point -128).
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}")
    if quantization == "int8" and len(representative) == 0:
        raise ValueError("int8 quantization needs at least one representative sample")
    tf = _import_tensorflow()
    import keras

    try:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        if quantization == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = _representative_batches(representative)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        # Keras would print the exported SavedModel's signature to stdout; the switch is
        # thread-local, so turning it off here affects no one else.
        interactive_logging = keras.config.is_interactive_logging_enabled()
        keras.config.disable_interactive_logging()
        try:
            with warnings.catch_warnings():
                # Always printed for int8 input types; it asks for nothing we could supply.
                warnings.filterwarnings("ignore", "Statistics for quantized inputs were expected")
                flatbuffer = converter.convert()
        finally:
            if interactive_logging:
                keras.config.enable_interactive_logging()
    except Exception as error:
        raise ConversionError(f"TFLite conversion ({quantization}) failed: {error}") from error
    logger.debug("converted %s model: %d bytes", quantization, len(flatbuffer))
    return bytes(flatbuffer)


def tensorflow_versions() -> dict[str, str]:
    """Return the TensorFlow, Keras and converter versions (for manifests)."""
    tf = _import_tensorflow()
    import keras

    return {
        "tensorflow": str(tf.__version__),
        "keras": str(keras.__version__),
        # The MLIR-based TFLite converter ships inside TensorFlow; its git version pins it.
        "tflite_converter": f"tensorflow {tf.__version__} ({tf.version.GIT_VERSION})",
    }


def _import_tensorflow() -> Any:
    """Import TensorFlow with its C++ info/warning chatter off unless the environment says so."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def _representative_batches(samples: np.ndarray) -> Any:
    """The converter's representative dataset: each sample as a float32 batch of 1.

    A black and a white frame come first, so the input's calibration range is the full 0..255
    a camera can deliver (scale 1, zero point -128: a device feeds `pixel - 128`) whatever the
    dataset's own range.
    """
    shape = samples.shape[1:]
    extremes = [np.zeros(shape, np.float32), np.full(shape, 255, np.float32)]

    def batches() -> Iterator[list[np.ndarray]]:
        for sample in [*extremes, *samples]:
            yield [np.asarray(sample, dtype=np.float32)[np.newaxis]]

    return batches
