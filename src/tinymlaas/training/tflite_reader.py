"""Read and vet an uploaded int8 .tflite before anything is stored (pure: the `tflite` package).

The API process runs this on files from anyone, so it trusts nothing in the flatbuffer: every
vector length and index is bounded by the buffer before it is followed, and whatever a
malformed buffer makes the generated readers raise becomes an `InvalidModelFile` naming the
problem. What passes is a single-subgraph, single-input, single-output model whose input is an
int8 image tensor [1, H, W, 1|3], whose output is int8 with one value per class, whose
operators TFLite-Micro implements and whose tensors are all of a size a microcontroller could
hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import tflite

from tinymlaas.contracts import ColorMode, TensorFacts

FILE_IDENTIFIER = b"TFL3"
# Input sizes the preprocessing handles (those a training request accepts).
MIN_INPUT_SIDE, MAX_INPUT_SIDE = 8, 640
# Operators TFLite-Micro's op resolver registers (tflite-micro 0.dev20261023, builtins only).
TFLM_OPERATORS = frozenset(
    {
        "ABS",
        "ADD",
        "ADD_N",
        "ARG_MAX",
        "ARG_MIN",
        "ASSIGN_VARIABLE",
        "AVERAGE_POOL_2D",
        "BATCH_MATMUL",
        "BATCH_TO_SPACE_ND",
        "BROADCAST_ARGS",
        "BROADCAST_TO",
        "CALL_ONCE",
        "CAST",
        "CEIL",
        "CONCATENATION",
        "CONV_2D",
        "COS",
        "CUMSUM",
        "DEPTH_TO_SPACE",
        "DEPTHWISE_CONV_2D",
        "DEQUANTIZE",
        "DIV",
        "DYNAMIC_UPDATE_SLICE",
        "ELU",
        "EMBEDDING_LOOKUP",
        "EQUAL",
        "EXP",
        "EXPAND_DIMS",
        "FILL",
        "FLOOR",
        "FLOOR_DIV",
        "FLOOR_MOD",
        "FULLY_CONNECTED",
        "GATHER",
        "GATHER_ND",
        "GREATER",
        "GREATER_EQUAL",
        "HARD_SWISH",
        "IF",
        "L2_NORMALIZATION",
        "L2_POOL_2D",
        "LEAKY_RELU",
        "LESS",
        "LESS_EQUAL",
        "LOG",
        "LOGICAL_AND",
        "LOGICAL_NOT",
        "LOGICAL_OR",
        "LOGISTIC",
        "LOG_SOFTMAX",
        "MAXIMUM",
        "MAX_POOL_2D",
        "MEAN",
        "MINIMUM",
        "MIRROR_PAD",
        "MUL",
        "NEG",
        "NOT_EQUAL",
        "PACK",
        "PAD",
        "PADV2",
        "PRELU",
        "QUANTIZE",
        "READ_VARIABLE",
        "REDUCE_MAX",
        "REDUCE_MIN",
        "RELU",
        "RELU6",
        "RESHAPE",
        "RESIZE_BILINEAR",
        "RESIZE_NEAREST_NEIGHBOR",
        "REVERSE_V2",
        "ROUND",
        "RSQRT",
        "SELECT_V2",
        "SHAPE",
        "SIN",
        "SLICE",
        "SOFTMAX",
        "SPACE_TO_BATCH_ND",
        "SPACE_TO_DEPTH",
        "SPLIT",
        "SPLIT_V",
        "SQRT",
        "SQUARE",
        "SQUARED_DIFFERENCE",
        "SQUEEZE",
        "STRIDED_SLICE",
        "SUB",
        "SUM",
        "SVDF",
        "TANH",
        "TRANSPOSE",
        "TRANSPOSE_CONV",
        "UNIDIRECTIONAL_SEQUENCE_LSTM",
        "UNPACK",
        "VAR_HANDLE",
        "WHILE",
        "ZEROS_LIKE",
    }
)
_OPERATOR_NAMES = {
    value: name for name, value in vars(tflite.BuiltinOperator).items() if name.isupper()
}
_TYPE_NAMES = {value: name for name, value in vars(tflite.TensorType).items() if name.isupper()}
_TYPE_BYTES = {"FLOAT32": 4, "INT32": 4, "INT64": 8, "FLOAT64": 8, "INT16": 2, "FLOAT16": 2}


class InvalidModelFile(ValueError):
    """The upload is not a .tflite this platform can compile; the message says why."""


@dataclass(frozen=True)
class TfliteFacts:
    """What an accepted .tflite says about itself."""

    input: TensorFacts
    output: TensorFacts
    operators: tuple[str, ...]
    tensor_count: int
    largest_tensor_bytes: int

    @property
    def color_mode(self) -> ColorMode:
        return "grayscale" if self.input.shape[3] == 1 else "rgb"

    @property
    def class_count(self) -> int:
        return math.prod(self.output.shape[1:])


def read_tflite(data: bytes, max_tensor_bytes: int) -> TfliteFacts:
    """Vet `data` as an int8 image classifier for TFLite-Micro; InvalidModelFile if it is not."""
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        found = data[4:8] if len(data) >= 8 else b""
        raise InvalidModelFile(
            f"not a TFLite flatbuffer: the file identifier is {found!r}, not 'TFL3'"
            " (is it a .tflite file?)"
        )
    try:
        return _read(data, max_tensor_bytes)
    except InvalidModelFile:
        raise
    except Exception as error:  # whatever a corrupt flatbuffer makes the readers raise
        raise InvalidModelFile(
            f"corrupt TFLite flatbuffer: {type(error).__name__} while reading it"
        ) from error


def _read(data: bytes, max_tensor_bytes: int) -> TfliteFacts:
    model = tflite.Model.GetRootAs(data, 0)
    subgraph_count = _length(data, model.SubgraphsLength(), "subgraphs")
    if subgraph_count == 0:
        raise InvalidModelFile("the model has no subgraph")
    if subgraph_count > 1:
        raise InvalidModelFile(
            f"the model has {subgraph_count} subgraphs; only single-subgraph models"
            " (no control flow) are supported"
        )
    graph = model.Subgraphs(0)
    tensor_count = _length(data, graph.TensorsLength(), "tensors")
    buffer_count = _length(data, model.BuffersLength(), "buffers")
    largest = 0
    for index in range(tensor_count):
        tensor = graph.Tensors(index)
        if not 0 <= tensor.Buffer() < max(buffer_count, 1):
            raise InvalidModelFile(f"tensor {index} refers to a buffer that does not exist")
        size = _tensor_bytes(data, tensor)
        if size > max_tensor_bytes:
            raise InvalidModelFile(
                f"tensor {index} ('{_name(tensor)}', shape {_shape(data, tensor)}) takes"
                f" {size} bytes, over the limit of {max_tensor_bytes}"
            )
        largest = max(largest, size)
    operators = _operators(data, model, graph, tensor_count)
    inputs = _io_indexes(data, graph.InputsLength(), graph.Inputs, tensor_count, "input")
    outputs = _io_indexes(data, graph.OutputsLength(), graph.Outputs, tensor_count, "output")
    input_facts = _int8_facts(data, graph.Tensors(inputs), "input")
    output_facts = _int8_facts(data, graph.Tensors(outputs), "output")
    _check_image_input(input_facts)
    if output_facts.shape[0] != 1 or any(side != 1 for side in output_facts.shape[1:-1]):
        raise InvalidModelFile(
            f"the output tensor has shape {output_facts.shape}; a classifier's is [1, classes]"
        )
    return TfliteFacts(input_facts, output_facts, operators, tensor_count, largest)


def _length(data: bytes, length: int, what: str) -> int:
    """A vector length no longer than the buffer could hold (each entry takes 4 bytes or more)."""
    if not 0 <= length <= len(data) // 4:
        raise InvalidModelFile(f"corrupt TFLite flatbuffer: {length} {what} in {len(data)} bytes")
    return length


def _shape(data: bytes, tensor: Any) -> list[int]:
    rank = _length(data, tensor.ShapeLength(), "dimensions")
    if rank > 8:
        raise InvalidModelFile(f"tensor '{_name(tensor)}' has {rank} dimensions")
    shape = [int(tensor.Shape(axis)) for axis in range(rank)]
    if any(side < 0 for side in shape):
        raise InvalidModelFile(
            f"tensor '{_name(tensor)}' has a dynamic or negative shape {shape};"
            " TFLite-Micro needs fixed shapes"
        )
    return shape


def _tensor_bytes(data: bytes, tensor: Any) -> int:
    type_name = _TYPE_NAMES.get(tensor.Type(), "UNKNOWN")
    return math.prod(_shape(data, tensor)) * _TYPE_BYTES.get(type_name, 1)


def _name(tensor: Any) -> str:
    raw = tensor.Name() or b""
    return bytes(raw[:120]).decode("utf-8", errors="replace")


def _operators(data: bytes, model: Any, graph: Any, tensor_count: int) -> tuple[str, ...]:
    """The operators' names, once each; InvalidModelFile for any TFLite-Micro lacks."""
    code_count = _length(data, model.OperatorCodesLength(), "operator codes")
    names: set[str] = set()
    for index in range(_length(data, graph.OperatorsLength(), "operators")):
        operator = graph.Operators(index)
        if not 0 <= operator.OpcodeIndex() < code_count:
            raise InvalidModelFile(f"operator {index} refers to an operator code that is missing")
        code = model.OperatorCodes(operator.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = _OPERATOR_NAMES.get(builtin, f"unknown operator code {builtin}")
        if name == "CUSTOM":
            custom = bytes(code.CustomCode() or b"")[:80].decode("utf-8", errors="replace")
            raise InvalidModelFile(f"custom operator '{custom}' is not supported")
        if name not in TFLM_OPERATORS:
            raise InvalidModelFile(f"operator {name} is not supported by TFLite-Micro")
        for position in range(_length(data, operator.InputsLength(), "operator inputs")):
            if not -1 <= operator.Inputs(position) < tensor_count:
                raise InvalidModelFile(f"operator {index} ({name}) reads a missing tensor")
        for position in range(_length(data, operator.OutputsLength(), "operator outputs")):
            if not 0 <= operator.Outputs(position) < tensor_count:
                raise InvalidModelFile(f"operator {index} ({name}) writes a missing tensor")
        names.add(name)
    if not names:
        raise InvalidModelFile("the model has no operators")
    return tuple(sorted(names))


def _io_indexes(data: bytes, count: int, get: Any, tensor_count: int, what: str) -> int:
    if _length(data, count, f"{what}s") != 1:
        raise InvalidModelFile(f"the model has {count} {what} tensors; exactly one is supported")
    index = int(get(0))
    if not 0 <= index < tensor_count:
        raise InvalidModelFile(f"the model's {what} refers to a missing tensor")
    return index


def _int8_facts(data: bytes, tensor: Any, what: str) -> TensorFacts:
    """Shape and per-tensor int8 quantization of the model's input or output."""
    type_name = _TYPE_NAMES.get(tensor.Type(), "UNKNOWN")
    if type_name != "INT8":
        raise InvalidModelFile(
            f"the {what} tensor '{_name(tensor)}' is {type_name}, not INT8: convert with full"
            " integer quantization (inference_input_type and inference_output_type tf.int8)"
        )
    quantization = tensor.Quantization()
    scales = _length(data, quantization.ScaleLength(), "scales") if quantization else 0
    zero_points = _length(data, quantization.ZeroPointLength(), "zero points") if scales else 0
    scale = float(quantization.Scale(0)) if scales == 1 else 0.0
    if scales != 1 or zero_points != 1 or not (math.isfinite(scale) and scale > 0):
        raise InvalidModelFile(
            f"the {what} tensor '{_name(tensor)}' needs one positive quantization scale and"
            f" zero point (it has {scales} scales)"
        )
    zero_point = int(quantization.ZeroPoint(0))
    if not -128 <= zero_point <= 127:
        raise InvalidModelFile(f"the {what} zero point {zero_point} is outside int8")
    return TensorFacts(shape=_shape(data, tensor), dtype="int8", scale=scale, zero_point=zero_point)


def _check_image_input(facts: TensorFacts) -> None:
    shape = facts.shape
    if len(shape) != 4 or shape[0] != 1 or shape[3] not in (1, 3):
        raise InvalidModelFile(
            f"the input tensor has shape {shape}; an image model's is [1, height, width,"
            " channels] (NHWC) with 1 (grayscale) or 3 (RGB) channels"
        )
    if not all(MIN_INPUT_SIDE <= side <= MAX_INPUT_SIDE for side in shape[1:3]):
        raise InvalidModelFile(
            f"the input is {shape[2]}×{shape[1]} pixels; sides from {MIN_INPUT_SIDE} to"
            f" {MAX_INPUT_SIDE} are supported"
        )
