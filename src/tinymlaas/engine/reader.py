"""Read an int8 .tflite flatbuffer into a typed graph the code generator walks (pure).

Validation is defensive, since users may bring their own files: anything the engine cannot run
raises `UnsupportedModel` (or `UnsupportedOperator`) with a message naming what and where.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinymlaas.engine.errors import UnsupportedModel, UnsupportedOperator

# The largest tensor (activations or weights) the engine accepts: far above any microcontroller.
MAX_TENSOR_BYTES = 16 * 2**20
_FILE_IDENTIFIER = b"TFL3"
_NUMPY_TYPES: dict[str, Any] = {
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FLOAT32": np.float32,
}
SUPPORTED_OPERATORS = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "MAX_POOL_2D",
    "AVERAGE_POOL_2D",
    "MEAN",
    "ADD",
    "MUL",
    "SOFTMAX",
    "RESHAPE",
    "PAD",
    "QUANTIZE",
)
_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}
_PADDINGS = {0: "SAME", 1: "VALID"}


@dataclass(frozen=True)
class Quantization:
    """Affine quantization: real = (q - zero_point) * scale, per tensor or per channel."""

    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    axis: int = 0

    @property
    def scale(self) -> float:
        """The per-tensor scale (the first one)."""
        return self.scales[0]

    @property
    def zero_point(self) -> int:
        """The per-tensor zero point (the first one)."""
        return self.zero_points[0]


@dataclass(frozen=True)
class Tensor:
    """One tensor of the graph; `data` is set for constants (weights, biases, shapes)."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    quantization: Quantization | None
    data: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1  # scalar: 1

    @property
    def nbytes(self) -> int:
        """Bytes of the tensor's data."""
        return self.size * int(np.dtype(_NUMPY_TYPES[self.dtype]).itemsize)

    @property
    def is_constant(self) -> bool:
        """Whether the tensor is stored in the model (weights) rather than computed."""
        return self.data is not None


@dataclass(frozen=True)
class Operator:
    """One operator: its builtin name, tensor indices (-1 = optional input absent), options."""

    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any]


@dataclass(frozen=True)
class Graph:
    """The single subgraph of a model, in execution order."""

    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def read_model(model: bytes) -> Graph:
    """Parse and validate `model`; raise UnsupportedModel/UnsupportedOperator naming the problem."""
    import tflite

    model = bytes(model)
    if len(model) < 8 or model[4:8] != _FILE_IDENTIFIER:
        raise UnsupportedModel("not a .tflite model (the file identifier TFL3 is missing)")
    try:
        root = tflite.Model.GetRootAsModel(model, 0)
        subgraph_count = root.SubgraphsLength()
    except Exception as error:
        raise UnsupportedModel(f"not a readable .tflite flatbuffer: {error}") from error
    if subgraph_count != 1:
        raise UnsupportedModel(f"the model has {subgraph_count} subgraphs; the engine runs one")
    try:
        return _read_graph(root, model)
    except (UnsupportedModel, UnsupportedOperator):
        raise
    except Exception as error:  # a corrupt flatbuffer fails anywhere inside the accessors
        raise UnsupportedModel(f"corrupt .tflite flatbuffer: {error}") from error


def _read_graph(root: Any, model: bytes) -> Graph:
    subgraph = root.Subgraphs(0)
    tensors = tuple(
        _read_tensor(root, model, subgraph.Tensors(index), index)
        for index in range(subgraph.TensorsLength())
    )
    names = _operator_names()
    operators = []
    unsupported: list[str] = []
    for index in range(subgraph.OperatorsLength()):
        try:
            operators.append(
                _read_operator(root, subgraph.Operators(index), index, names, len(tensors))
            )
        except UnsupportedOperator as error:
            unsupported.append(error.operator)
    if unsupported:
        # Name every missing operator at once, not just the first.
        raise UnsupportedOperator(", ".join(dict.fromkeys(unsupported)))
    graph = Graph(
        tensors=tensors,
        operators=tuple(operators),
        inputs=tuple(int(i) for i in subgraph.InputsAsNumpy()),
        outputs=tuple(int(i) for i in subgraph.OutputsAsNumpy()),
    )
    _validate(graph)
    return graph


def _operator_names() -> dict[int, str]:
    from tflite.BuiltinOperator import BuiltinOperator

    return {
        value: name
        for name, value in vars(BuiltinOperator).items()
        if not name.startswith("_") and isinstance(value, int)
    }


def _type_names() -> dict[int, str]:
    from tflite.TensorType import TensorType

    return {
        value: name
        for name, value in vars(TensorType).items()
        if not name.startswith("_") and isinstance(value, int)
    }


def _read_tensor(root: Any, model: bytes, tensor: Any, index: int) -> Tensor:
    name = tensor.Name().decode("utf-8", errors="replace") if tensor.Name() else f"#{index}"
    dtype = _type_names().get(tensor.Type(), str(tensor.Type()))
    shape = tuple(int(size) for size in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    if any(size <= 0 for size in shape):
        raise UnsupportedModel(f"tensor {name!r} has a dynamic or empty shape {shape}")
    if dtype not in _NUMPY_TYPES:
        raise UnsupportedModel(f"tensor {name!r} has the unsupported type {dtype}")
    itemsize = np.dtype(_NUMPY_TYPES[dtype]).itemsize
    nbytes = int(np.prod(shape, dtype=np.int64)) * itemsize if shape else itemsize
    if nbytes > MAX_TENSOR_BYTES:
        raise UnsupportedModel(
            f"tensor {name!r} holds {nbytes} bytes, over the {MAX_TENSOR_BYTES}-byte limit"
        )
    data = _read_buffer(root, model, tensor.Buffer(), name, dtype, shape, nbytes)
    return Tensor(index, name, shape, dtype, _read_quantization(tensor), data)


def _read_buffer(
    root: Any,
    model: bytes,
    buffer_index: int,
    name: str,
    dtype: str,
    shape: tuple[int, ...],
    nbytes: int,
) -> np.ndarray | None:
    if buffer_index >= root.BuffersLength():
        raise UnsupportedModel(f"tensor {name!r} refers to the missing buffer {buffer_index}")
    buffer = root.Buffers(buffer_index)
    if buffer.Offset() > 1:  # stored after the flatbuffer (models over 2 GB)
        raw = model[buffer.Offset() : buffer.Offset() + buffer.Size()]
    elif buffer.DataLength():
        raw = buffer.DataAsNumpy().tobytes()
    else:
        return None
    if len(raw) != nbytes:
        raise UnsupportedModel(
            f"tensor {name!r} needs {nbytes} bytes but its buffer holds {len(raw)}"
        )
    return np.frombuffer(raw, dtype=_NUMPY_TYPES[dtype]).reshape(shape).copy()


def _read_quantization(tensor: Any) -> Quantization | None:
    parameters = tensor.Quantization()
    if parameters is None or parameters.ScaleLength() == 0:
        return None
    scales = tuple(float(s) for s in parameters.ScaleAsNumpy())
    zero_points = tuple(int(z) for z in parameters.ZeroPointAsNumpy())
    if len(zero_points) != len(scales):
        zero_points = (zero_points or (0,)) * len(scales) if len(zero_points) <= 1 else zero_points
    return Quantization(scales, zero_points, int(parameters.QuantizedDimension()))


def _read_operator(
    root: Any, operator: Any, index: int, names: dict[int, str], tensor_count: int
) -> Operator:
    if operator.OpcodeIndex() >= root.OperatorCodesLength():
        raise UnsupportedModel(f"operator {index} refers to a missing operator code")
    code = root.OperatorCodes(operator.OpcodeIndex())
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    name = names.get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM" or name not in SUPPORTED_OPERATORS:
        custom = code.CustomCode()
        raise UnsupportedOperator(custom.decode() if name == "CUSTOM" and custom else name)
    inputs = tuple(int(i) for i in operator.InputsAsNumpy()) if operator.InputsLength() else ()
    outputs = tuple(int(i) for i in operator.OutputsAsNumpy()) if operator.OutputsLength() else ()
    if any(i >= tensor_count for i in (*inputs, *outputs)) or any(i < 0 for i in outputs):
        raise UnsupportedModel(f"operator {index} ({name}) refers to a missing tensor")
    return Operator(index, name, inputs, outputs, _read_options(name, operator))


def _read_options(name: str, operator: Any) -> dict[str, Any]:
    import tflite

    table = operator.BuiltinOptions()
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        options: Any = (
            tflite.Conv2DOptions() if name == "CONV_2D" else tflite.DepthwiseConv2DOptions()
        )
        options.Init(table.Bytes, table.Pos)
        result = {
            "stride": (options.StrideH(), options.StrideW()),
            "dilation": (options.DilationHFactor(), options.DilationWFactor()),
            "padding": _PADDINGS.get(options.Padding(), str(options.Padding())),
            "activation": _activation(name, options.FusedActivationFunction()),
        }
        if name == "DEPTHWISE_CONV_2D":
            result["depth_multiplier"] = options.DepthMultiplier()
        return result
    if name in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        pool = tflite.Pool2DOptions()
        pool.Init(table.Bytes, table.Pos)
        return {
            "stride": (pool.StrideH(), pool.StrideW()),
            "filter": (pool.FilterHeight(), pool.FilterWidth()),
            "padding": _PADDINGS.get(pool.Padding(), str(pool.Padding())),
            "activation": _activation(name, pool.FusedActivationFunction()),
        }
    return _read_simple_options(name, table)


def _read_simple_options(name: str, table: Any) -> dict[str, Any]:
    import tflite

    classes: dict[str, Any] = {
        "FULLY_CONNECTED": tflite.FullyConnectedOptions,
        "ADD": tflite.AddOptions,
        "MUL": tflite.MulOptions,
    }
    if name in classes and table is not None:
        options = classes[name]()
        options.Init(table.Bytes, table.Pos)
        result: dict[str, Any] = {
            "activation": _activation(name, options.FusedActivationFunction())
        }
        if name == "FULLY_CONNECTED":
            result["keep_num_dims"] = bool(options.KeepNumDims())
        return result
    if name in classes:
        return {"activation": "NONE"}
    if name == "SOFTMAX":
        beta = 1.0
        if table is not None:
            softmax = tflite.SoftmaxOptions()
            softmax.Init(table.Bytes, table.Pos)
            beta = float(softmax.Beta())
        return {"beta": beta}
    if name == "MEAN":
        keep_dims = False
        if table is not None:
            reducer = tflite.ReducerOptions()
            reducer.Init(table.Bytes, table.Pos)
            keep_dims = bool(reducer.KeepDims())
        return {"keep_dims": keep_dims}
    return {}


def _activation(operator: str, code: int) -> str:
    if code not in _ACTIVATIONS:
        raise UnsupportedOperator(operator, f"fused activation {code}")
    return _ACTIVATIONS[code]


def _validate(graph: Graph) -> None:
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UnsupportedModel(
            f"the model has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; "
            "the engine runs models with one of each"
        )
    for operator in graph.operators:
        for position in operator.outputs:
            tensor = graph.tensors[position]
            if tensor.dtype != "INT8":
                raise UnsupportedModel(
                    f"operator {operator.index} ({operator.name}) produces a {tensor.dtype} "
                    f"tensor {tensor.name!r}; the engine runs int8 activations only"
                )
            if tensor.quantization is None or len(tensor.quantization.scales) != 1:
                raise UnsupportedModel(
                    f"activation tensor {tensor.name!r} lacks per-tensor int8 quantization"
                )
    for position in graph.inputs:
        tensor = graph.tensors[position]
        if tensor.dtype != "INT8" or tensor.quantization is None:
            raise UnsupportedModel(
                f"the model input {tensor.name!r} is {tensor.dtype}; the engine needs int8"
            )
        if tensor.shape and tensor.shape[0] != 1:
            raise UnsupportedModel(f"the model input has batch size {tensor.shape[0]}, not 1")
