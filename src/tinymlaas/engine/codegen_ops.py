"""Per-operator C emission: constant parameter structs and kernel calls (pure).

Each `emit_*` function checks the operator's tensors, computes the integer parameters exactly
as TFLite-Micro's Prepare step does (`arithmetic`), and returns the C lines for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tinymlaas.engine import arithmetic
from tinymlaas.engine.codegen_packed import depthwise_layout, pack_depthwise, packable_3x3
from tinymlaas.engine.errors import UnsupportedOperator
from tinymlaas.engine.reader import Graph, Operator, Quantization, Tensor

VALUES_PER_LINE = 24
# The fast requantization carries the output offset x 2^shift in 32 bits (tml_requantize.h).
FAST_RIGHT_SHIFT_MAX = 22


@dataclass
class Emitter:
    """Collects the constant arrays and per-operator declarations of one generated model."""

    graph: Graph
    pointers: dict[int, str]  # activation tensor index -> C pointer expression
    arrays: list[str] = field(default_factory=list)
    declarations: list[str] = field(default_factory=list)
    weight_bytes: int = 0  # tml_weight_* arrays: the model's weights and biases
    qparam_bytes: int = 0  # tml_qparam_* arrays: per-channel requantization constants
    _array_names: dict[tuple[int, str], str] = field(default_factory=dict)

    def tensor(self, index: int) -> Tensor:
        return self.graph.tensors[index]

    def weight(self, index: int) -> str:
        """Name of the C array holding constant tensor `index` (emitted once)."""
        key = (index, "weight")
        if key not in self._array_names:
            tensor = self.tensor(index)
            assert tensor.data is not None
            ctype = {"INT8": "int8_t", "INT32": "int32_t"}.get(tensor.dtype)
            if ctype is None:
                raise UnsupportedOperator(
                    "constant", f"tensor {tensor.name!r} has type {tensor.dtype}"
                )
            name = f"tml_weight_{index}"
            self.arrays.append(_array(ctype, name, tensor.data))
            self.weight_bytes += tensor.nbytes
            self._array_names[key] = name
        return self._array_names[key]

    def folded_bias(self, name: str, values: list[int]) -> str:
        """A bias array the generator derived from the model's (counted with the weights)."""
        self.arrays.append(_array("int32_t", name, np.asarray(values, dtype=np.int64)))
        self.weight_bytes += 4 * len(values)
        return name

    def int8_array(self, name: str, values: list[int]) -> str:
        self.arrays.append(_array("int8_t", name, np.asarray(values, dtype=np.int64)))
        self.qparam_bytes += len(values)
        return name

    def int32_array(self, name: str, values: list[int]) -> str:
        self.arrays.append(_array("int32_t", name, np.asarray(values, dtype=np.int64)))
        self.qparam_bytes += 4 * len(values)
        return name

    def pointer(self, index: int) -> str:
        if index in self.pointers:
            return self.pointers[index]
        return f"(const int8_t *){self.weight(index)}"


def _array(ctype: str, name: str, values: np.ndarray) -> str:
    flat = [str(int(v)) for v in np.asarray(values).ravel().tolist()]
    lines = [
        "    " + ", ".join(flat[start : start + VALUES_PER_LINE]) + ","
        for start in range(0, len(flat), VALUES_PER_LINE)
    ]
    return f"static const {ctype} {name}[{max(len(flat), 1)}] = {{\n" + "\n".join(lines) + "\n};\n"


def c_struct(ctype: str, name: str, fields: dict[str, object]) -> str:
    body = ",\n".join(f"    .{key} = {_c_value(value)}" for key, value in fields.items())
    return f"static const {ctype} {name} = {{\n{body}\n}};\n"


def _c_value(value: object) -> str:
    if isinstance(value, float):
        return f"{value.hex()}f"
    if isinstance(value, (tuple, list)):
        return "{" + ", ".join(_c_value(v) for v in value) + "}"
    return str(value)


def quantization_of(emitter: Emitter, index: int, operator: Operator) -> Quantization:
    tensor = emitter.tensor(index)
    if tensor.quantization is None:
        raise UnsupportedOperator(operator.name, f"tensor {tensor.name!r} is not quantized")
    return tensor.quantization


def constant_input(emitter: Emitter, operator: Operator, position: int, what: str) -> Tensor:
    if position >= len(operator.inputs) or operator.inputs[position] < 0:
        raise UnsupportedOperator(operator.name, f"its {what} is missing")
    tensor = emitter.tensor(operator.inputs[position])
    if tensor.data is None:
        raise UnsupportedOperator(operator.name, f"its {what} is not a constant")
    return tensor


def _bias(emitter: Emitter, operator: Operator) -> str:
    if len(operator.inputs) < 3 or operator.inputs[2] < 0:
        return "0"
    bias = constant_input(emitter, operator, 2, "bias")
    if bias.dtype != "INT32":
        raise UnsupportedOperator(operator.name, f"{bias.dtype} bias (int32 expected)")
    return emitter.weight(bias.index)


def _requantization(
    emitter: Emitter, operator: Operator, filter_tensor: Tensor, channels: int
) -> tuple[list[int], list[int]]:
    input_scale = quantization_of(emitter, operator.inputs[0], operator).scale
    output_scale = quantization_of(emitter, operator.outputs[0], operator).scale
    filter_scales = quantization_of(emitter, filter_tensor.index, operator).scales
    if len(filter_scales) not in (1, channels):
        raise UnsupportedOperator(operator.name, "per-channel scales do not match the channels")
    return arithmetic.per_channel_multipliers(input_scale, filter_scales, output_scale, channels)


def _requantization_arrays(
    emitter: Emitter, operator: Operator, multipliers: list[int], shifts: list[int]
) -> tuple[str, str]:
    prefix = f"tml_qparam_{operator.index}"
    return (
        emitter.int32_array(f"{prefix}_multiplier", multipliers),
        emitter.int32_array(f"{prefix}_shift", shifts),
    )


def _bias_values(emitter: Emitter, operator: Operator, channels: int) -> np.ndarray:
    if len(operator.inputs) < 3 or operator.inputs[2] < 0:
        return np.zeros(channels, dtype=np.int64)
    data = emitter.tensor(operator.inputs[2]).data
    assert data is not None
    return np.asarray(data, dtype=np.int64).ravel()


def fast_conv(
    filter_rows: np.ndarray, bias: np.ndarray, input_offset: int, shifts: list[int]
) -> bool:
    """Whether the kernels' fast paths hold for a conv: every shift a right shift of 1 to 22
    bits and every accumulator + bias below 2^30, the partial sums too, whichever way the input
    offset is counted (added to each input, or folded into the bias): the bound checked is
    2^29, which covers both with room.

    `filter_rows` holds one output channel's weights per row."""
    if any(not -FAST_RIGHT_SHIFT_MAX <= shift <= -1 for shift in shifts):
        return False
    magnitudes = np.abs(filter_rows.astype(np.int64)).sum(axis=1)
    folded = bias + input_offset * filter_rows.astype(np.int64).sum(axis=1)
    largest_input = max(abs(-128 + input_offset), abs(127 + input_offset))
    unfolded_bound = magnitudes * largest_input + np.abs(bias)
    folded_bound = magnitudes * 128 + np.abs(folded)
    return bool(max(unfolded_bound.max(), folded_bound.max()) < 2**29)


def _offsets_and_range(emitter: Emitter, operator: Operator) -> dict[str, object]:
    input_zero_point = quantization_of(emitter, operator.inputs[0], operator).zero_point
    output = quantization_of(emitter, operator.outputs[0], operator)
    low, high = arithmetic.activation_range(
        operator.options.get("activation", "NONE"), output.scale, output.zero_point
    )
    return {
        "input_offset": -input_zero_point,
        "output_offset": output.zero_point,
        "act_min": low,
        "act_max": high,
    }


def _shape4(emitter: Emitter, operator: Operator, index: int) -> tuple[int, int, int, int]:
    shape = emitter.tensor(index).shape
    if len(shape) != 4 or shape[0] != 1:
        raise UnsupportedOperator(operator.name, f"tensor shape {shape} (NHWC, batch 1 expected)")
    return shape[0], shape[1], shape[2], shape[3]


def emit_conv(emitter: Emitter, operator: Operator) -> str:
    """CONV_2D and DEPTHWISE_CONV_2D."""
    depthwise = operator.name == "DEPTHWISE_CONV_2D"
    _, in_h, in_w, in_c = _shape4(emitter, operator, operator.inputs[0])
    _, out_h, out_w, out_c = _shape4(emitter, operator, operator.outputs[0])
    filter_tensor = constant_input(emitter, operator, 1, "filter")
    if filter_tensor.dtype != "INT8" or len(filter_tensor.shape) != 4:
        raise UnsupportedOperator(operator.name, f"{filter_tensor.dtype} filter")
    _, filter_h, filter_w, filter_c = filter_tensor.shape
    if not depthwise and filter_c != in_c:
        raise UnsupportedOperator(operator.name, "grouped convolution")
    stride, dilation = operator.options["stride"], operator.options["dilation"]
    padding = operator.options["padding"]
    pad_h = arithmetic.same_padding(in_h, stride[0], filter_h, dilation[0], padding)
    pad_w = arithmetic.same_padding(in_w, stride[1], filter_w, dilation[1], padding)
    multipliers, shifts = _requantization(emitter, operator, filter_tensor, out_c)
    offsets = _offsets_and_range(emitter, operator)
    assert filter_tensor.data is not None
    weights = np.asarray(filter_tensor.data)
    rows = weights.reshape(-1, out_c).T if depthwise else weights.reshape(out_c, -1)
    bias_values = _bias_values(emitter, operator, out_c)
    input_offset = int(str(offsets["input_offset"]))
    fast = fast_conv(rows, bias_values, input_offset, shifts)
    pointwise = (filter_h, filter_w, *stride, pad_h, pad_w) == (1, 1, 1, 1, 0, 0) and (
        in_h,
        in_w,
    ) == (out_h, out_w)
    packed = packable_3x3(depthwise, filter_tensor.shape, tuple(dilation), (in_c, out_c), fast)
    if packed:
        packable = depthwise_layout(weights, depthwise)
        arrays = _packed_arrays(emitter, operator, packable, bias_values, multipliers, shifts)
    elif fast and pointwise and not depthwise:
        folded = bias_values + input_offset * rows.astype(np.int64).sum(axis=1)
        bias = emitter.folded_bias(f"tml_weight_op{operator.index}_folded_bias", folded.tolist())
        arrays = {"filter": emitter.weight(filter_tensor.index), "bias": bias}
    else:
        arrays = {"filter": emitter.weight(filter_tensor.index), "bias": _bias(emitter, operator)}
    if not packed:
        multiplier_name, shift_name = _requantization_arrays(emitter, operator, multipliers, shifts)
        arrays |= {"multiplier": multiplier_name, "shift": shift_name}
    fields: dict[str, object] = {
        "in_h": in_h, "in_w": in_w, "in_c": in_c,
        "out_h": out_h, "out_w": out_w, "out_c": out_c,
        "filter_h": filter_h, "filter_w": filter_w,
        "stride_h": stride[0], "stride_w": stride[1],
        "dilation_h": dilation[0], "dilation_w": dilation[1],
        "pad_h": pad_h, "pad_w": pad_w,
        "depth_multiplier": out_c // in_c if depthwise else 1,
        **offsets,
        **arrays,
        "fast": int(fast),
    }  # fmt: skip
    name = f"tml_op_{operator.index}"
    emitter.declarations.append(c_struct("tml_conv_params", name, fields))
    kernel = "tml_depthwise_conv2d" if depthwise else "tml_conv2d"
    return call_kernel(kernel, name, emitter, operator)


def _packed_arrays(
    emitter: Emitter,
    operator: Operator,
    weights: np.ndarray,
    bias: np.ndarray,
    multipliers: list[int],
    shifts: list[int],
) -> dict[str, object]:
    """A 3x3 depthwise conv's filter and constants packed by groups of four channels: the
    filter (and biases) count as weights, the rest as requantization constants."""
    offsets = _offsets_and_range(emitter, operator)
    packed = pack_depthwise(
        weights,
        bias,
        int(str(offsets["input_offset"])),
        multipliers,
        shifts,
        int(str(offsets["output_offset"])),
    )
    prefix = f"op{operator.index}_packed"
    filter_name = emitter.folded_bias(f"tml_weight_{prefix}", packed.filter_words)
    constants = emitter.int32_array(f"tml_qparam_{prefix}", packed.constants)
    return {"packed_filter": filter_name, "packed_constants": constants}


def emit_fully_connected(emitter: Emitter, operator: Operator) -> str:
    """FULLY_CONNECTED (per-tensor or per-channel filter scales)."""
    filter_tensor = constant_input(emitter, operator, 1, "weights")
    if filter_tensor.dtype != "INT8" or len(filter_tensor.shape) != 2:
        raise UnsupportedOperator(operator.name, f"{filter_tensor.dtype} weights")
    out_depth, in_depth = filter_tensor.shape
    batches = emitter.tensor(operator.inputs[0]).size // in_depth
    multipliers, shifts = _requantization(emitter, operator, filter_tensor, out_depth)
    multiplier_name, shift_name = _requantization_arrays(emitter, operator, multipliers, shifts)
    offsets = _offsets_and_range(emitter, operator)
    fields: dict[str, object] = {
        "batches": batches, "in_depth": in_depth, "out_depth": out_depth,
        "input_offset": offsets["input_offset"],
        "filter_offset": -quantization_of(emitter, filter_tensor.index, operator).zero_point,
        "output_offset": offsets["output_offset"],
        "act_min": offsets["act_min"], "act_max": offsets["act_max"],
        "filter": emitter.weight(filter_tensor.index),
        "bias": _bias(emitter, operator),
        "multiplier": multiplier_name, "shift": shift_name,
    }  # fmt: skip
    name = f"tml_op_{operator.index}"
    emitter.declarations.append(c_struct("tml_fc_params", name, fields))
    return call_kernel("tml_fully_connected", name, emitter, operator)


def emit_pool(emitter: Emitter, operator: Operator) -> str:
    """MAX_POOL_2D and AVERAGE_POOL_2D."""
    _, in_h, in_w, channels = _shape4(emitter, operator, operator.inputs[0])
    _, out_h, out_w, _ = _shape4(emitter, operator, operator.outputs[0])
    (stride_h, stride_w), (filter_h, filter_w) = (
        operator.options["stride"],
        operator.options["filter"],
    )
    padding = operator.options["padding"]
    offsets = _offsets_and_range(emitter, operator)
    fields: dict[str, object] = {
        "in_h": in_h, "in_w": in_w, "channels": channels, "out_h": out_h, "out_w": out_w,
        "filter_h": filter_h, "filter_w": filter_w, "stride_h": stride_h, "stride_w": stride_w,
        "pad_h": arithmetic.same_padding(in_h, stride_h, filter_h, 1, padding),
        "pad_w": arithmetic.same_padding(in_w, stride_w, filter_w, 1, padding),
        "act_min": offsets["act_min"], "act_max": offsets["act_max"],
    }  # fmt: skip
    name = f"tml_op_{operator.index}"
    emitter.declarations.append(c_struct("tml_pool_params", name, fields))
    kernel = "tml_max_pool2d" if operator.name == "MAX_POOL_2D" else "tml_average_pool2d"
    return call_kernel(kernel, name, emitter, operator)


def call_kernel(kernel: str, params: str, emitter: Emitter, operator: Operator) -> str:
    inputs = emitter.pointer(operator.inputs[0])
    output = emitter.pointers[operator.outputs[0]]
    return f"    {kernel}(&{params}, {inputs}, {output});  /* {operator.name} #{operator.index} */"


EmitFunction = Callable[[Emitter, Operator], str]
