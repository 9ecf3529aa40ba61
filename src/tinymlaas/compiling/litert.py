"""Run .tflite models in LiteRT (ai-edge-litert) the way TFLite-Micro does, without TensorFlow."""

from importlib import metadata
from typing import Any

import numpy as np

from tinymlaas.compiling.quantize import (
    TensorInfo,
    dequantize_output,
    quantize_input,
    tensor_info,
)

__all__ = [
    "TensorInfo",
    "check_model",
    "dequantize_output",
    "describe",
    "litert_compatible",
    "litert_version",
    "predict",
    "quantize_input",
]

FILE_IDENTIFIER = b"TFL3"


def check_model(model: bytes) -> None:
    """Raise ValueError unless `model` is a TFLite flatbuffer whose graph is consistent.

    LiteRT verifies the flatbuffer and every tensor/buffer index while allocating; TFLite-Micro
    trusts its input and can crash the whole process on a corrupt model, so check here first.
    """
    _interpreter(model)


def describe(model: bytes) -> tuple[TensorInfo, TensorInfo]:
    """Return the (input, output) tensor descriptions of a single-input, single-output model."""
    interpreter = _interpreter(model)
    return _describe(interpreter.get_input_details()), _describe(interpreter.get_output_details())


def predict(model: bytes, pixels: np.ndarray) -> np.ndarray:
    """Return float scores (N, classes) for uint8 pixels (N, H, W, C), one image per invoke."""
    interpreter = _interpreter(model)
    input_details = interpreter.get_input_details()
    output_details = interpreter.get_output_details()
    input_info, output_info = _describe(input_details), _describe(output_details)
    quantized = quantize_input(pixels, input_info)
    raw = np.empty((len(pixels), *output_info.shape[1:]), dtype=output_info.dtype)
    for position, sample in enumerate(quantized):
        interpreter.set_tensor(input_details[0]["index"], sample[np.newaxis])
        interpreter.invoke()
        raw[position] = interpreter.get_tensor(output_details[0]["index"])[0]
    return dequantize_output(raw, output_info)


def predict_raw(model: bytes, quantized: np.ndarray) -> np.ndarray:
    """Return the output tensor's own values (N, classes) for inputs already quantized."""
    interpreter = _interpreter(model)
    input_details = interpreter.get_input_details()
    output_details = interpreter.get_output_details()
    output_info = _describe(output_details)
    raw = np.empty((len(quantized), *output_info.shape[1:]), dtype=output_info.dtype)
    for position, sample in enumerate(quantized):
        interpreter.set_tensor(input_details[0]["index"], sample[np.newaxis])
        interpreter.invoke()
        raw[position] = interpreter.get_tensor(output_details[0]["index"])[0]
    return raw


def litert_version() -> str:
    """Return the installed ai-edge-litert version (for manifests)."""
    return metadata.version("ai-edge-litert")


def litert_compatible(model: bytes) -> bytes:
    """`model`, with what LiteRT refuses but TFLite-Micro never reads made acceptable to LiteRT.

    Older converters (TFLite-Micro's own person-detection model among their outputs) copied the
    depthwise weights' per-channel quantized_dimension, 3, onto the 1-D bias tensors. LiteRT
    checks it against the tensor's rank and refuses the whole model ("quantized_dimension must
    be in range [0, 1). Was 3"); TFLite-Micro never reads a bias's quantized dimension (its
    kernels take the per-channel scales from the filter). Such a 1-D tensor's field is
    overwritten in place with 0, the only axis it has, in the copy LiteRT checks and runs: every
    other byte is the one TFLite-Micro gets, so LiteRT's verification still covers them, and
    every other quantization LiteRT refuses stays refused. Unchanged bytes come back when there
    is nothing to fix.
    """
    if len(model) < 8 or model[4:8] != FILE_IDENTIFIER:
        return model
    try:
        positions = _out_of_range_bias_dimensions(model)
    except Exception:  # a corrupt flatbuffer: LiteRT's own verification will say so
        return model
    if not positions:
        return model
    patched = bytearray(model)
    for position in positions:
        patched[position : position + 4] = (0).to_bytes(4, "little")
    return bytes(patched)


# The vtable slot of QuantizationParameters.quantized_dimension (field 6: 4 + 2 * 6).
_QUANTIZED_DIMENSION_SLOT = 16


def _out_of_range_bias_dimensions(model: bytes) -> list[int]:
    """Byte positions of the quantized_dimension of 1-D tensors where it is beyond the rank."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    root = schema.Model.GetRootAsModel(model, 0)
    found = []
    for subgraph_index in range(min(root.SubgraphsLength(), len(model) // 4)):
        subgraph = root.Subgraphs(subgraph_index)
        for tensor_index in range(min(subgraph.TensorsLength(), len(model) // 4)):
            tensor = subgraph.Tensors(tensor_index)
            quantization = tensor.Quantization()
            if tensor.ShapeLength() != 1 or quantization is None:
                continue
            scales = quantization.ScaleLength()
            if quantization.QuantizedDimension() >= 1 and scales in (1, tensor.Shape(0)):
                table = quantization._tab
                found.append(table.Pos + table.Offset(_QUANTIZED_DIMENSION_SLOT))
    return found


def _interpreter(model: bytes) -> Any:
    """Load `model` with the reference kernels only, tensors allocated; ValueError if invalid."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    if len(model) < 8 or model[4:8] != FILE_IDENTIFIER:
        raise ValueError("not a TFLite model: the flatbuffer identifier 'TFL3' is missing")
    try:
        # Without XNNPACK, int8 results equal TFLite-Micro's except rare one-step requantization
        # ties; BUILTIN_REF would be closer still but aborts the process on MobileNetV2.
        interpreter = Interpreter(
            model_content=litert_compatible(bytes(model)),
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        raise ValueError(f"invalid TFLite model: {_first_line(error)}") from error
    if len(interpreter.get_input_details()) != 1 or len(interpreter.get_output_details()) != 1:
        raise ValueError("the model must have exactly one input and one output tensor")
    return interpreter


def _describe(details: list[dict[str, Any]]) -> TensorInfo:
    """Convert LiteRT's details of a single tensor into a TensorInfo."""
    detail = details[0]
    quantization = detail["quantization_parameters"]
    return tensor_info(
        detail["shape"], detail["dtype"], quantization["scales"], quantization["zero_points"]
    )


def _first_line(error: Exception) -> str:
    """Return the first non-empty line of an interpreter error (the rest repeats it)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
