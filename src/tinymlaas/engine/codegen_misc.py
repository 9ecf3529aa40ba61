"""C emission of the reducing, element-wise and shape operators (pure)."""

from __future__ import annotations

import numpy as np

from tinymlaas.engine import arithmetic
from tinymlaas.engine.codegen_ops import (
    EmitFunction,
    Emitter,
    c_struct,
    call_kernel,
    constant_input,
    emit_conv,
    emit_fully_connected,
    emit_pool,
    quantization_of,
)
from tinymlaas.engine.errors import UnsupportedOperator
from tinymlaas.engine.reader import Operator

SOFTMAX_OUTPUT_SCALE = 1.0 / 256.0


def emit_mean(emitter: Emitter, operator: Operator) -> str:
    """MEAN over contiguous axes (global average pooling), rounded as current TFLite-Micro does.

    The sum of (q - input_zero_point) is requantized once by input_scale / output_scale folded
    with 1 / count; the 2023 Arduino port divided first and rounded twice.
    """
    shape = emitter.tensor(operator.inputs[0]).shape
    axes_tensor = constant_input(emitter, operator, 1, "axis")
    assert axes_tensor.data is not None
    axes = sorted({int(a) % len(shape) for a in axes_tensor.data.ravel().tolist()})
    if not axes or axes != list(range(axes[0], axes[-1] + 1)):
        raise UnsupportedOperator(operator.name, f"non-contiguous axes {axes}")
    source = quantization_of(emitter, operator.inputs[0], operator)
    target = quantization_of(emitter, operator.outputs[0], operator)
    reduced = int(np.prod(shape[axes[0] : axes[-1] + 1], dtype=np.int64))
    multiplier, shift = arithmetic.mean_multiplier(source.scale, target.scale, reduced)
    fields: dict[str, object] = {
        "outer": int(np.prod(shape[: axes[0]], dtype=np.int64)),
        "reduced": reduced,
        "inner": int(np.prod(shape[axes[-1] + 1 :], dtype=np.int64)),
        "input_zero_point": source.zero_point,
        "output_zero_point": target.zero_point,
        "multiplier": multiplier,
        "shift": shift,
    }
    name = f"tml_op_{operator.index}"
    emitter.declarations.append(c_struct("tml_mean_params", name, fields))
    return call_kernel("tml_mean", name, emitter, operator)


def _broadcast_strides(shape: tuple[int, ...], output: tuple[int, ...]) -> list[int]:
    padded = (1,) * (4 - len(shape)) + tuple(shape)
    strides = [0, 0, 0, 0]
    step = 1
    for axis in range(3, -1, -1):
        if padded[axis] != 1:
            if padded[axis] != output[axis]:
                raise ValueError("shapes do not broadcast")
            strides[axis] = step
        step *= padded[axis]
    return strides


def emit_binary(emitter: Emitter, operator: Operator) -> str:
    """ADD and MUL, with broadcasting over up to four dimensions."""
    first, second = (emitter.tensor(i) for i in operator.inputs[:2])
    output = emitter.tensor(operator.outputs[0])
    if len(output.shape) > 4 or first.dtype != "INT8" or second.dtype != "INT8":
        raise UnsupportedOperator(operator.name, "more than 4 dimensions or non-int8 inputs")
    dims = (1,) * (4 - len(output.shape)) + output.shape
    try:
        stride1 = _broadcast_strides(first.shape, dims)
        stride2 = _broadcast_strides(second.shape, dims)
    except ValueError as error:
        raise UnsupportedOperator(operator.name, str(error)) from error
    q1, q2 = (quantization_of(emitter, i, operator) for i in operator.inputs[:2])
    q_out = quantization_of(emitter, operator.outputs[0], operator)
    low, high = arithmetic.activation_range(
        operator.options.get("activation", "NONE"), q_out.scale, q_out.zero_point
    )
    fields: dict[str, object] = {
        "dims": dims, "stride1": stride1, "stride2": stride2,
        "input1_offset": -q1.zero_point, "input2_offset": -q2.zero_point,
        "output_offset": q_out.zero_point,
    }  # fmt: skip
    if operator.name == "ADD":
        left_shift, (m1, s1), (m2, s2), (mo, so) = arithmetic.add_parameters(
            q1.scale, q2.scale, q_out.scale
        )
        fields.update(left_shift=left_shift, input1_multiplier=m1, input1_shift=s1)
        fields.update(input2_multiplier=m2, input2_shift=s2)
    else:
        real = float(np.float32(q1.scale)) * float(np.float32(q2.scale))
        mo, so = arithmetic.quantize_multiplier(real / float(np.float32(q_out.scale)))
    fields.update(output_multiplier=mo, output_shift=so, act_min=low, act_max=high)
    lookup = _lookup_table(emitter, operator, fields)
    if lookup is not None:
        return lookup
    name = f"tml_op_{operator.index}"
    emitter.declarations.append(c_struct("tml_binary_params", name, fields))
    kernel = "tml_add" if operator.name == "ADD" else "tml_mul"
    pointers = ", ".join(emitter.pointer(i) for i in operator.inputs[:2])
    target = emitter.pointers[operator.outputs[0]]
    return f"    {kernel}(&{name}, {pointers}, {target});  /* {operator.name} #{operator.index} */"


def _binary_one(name: str, fields: dict[str, object], a: int, b: int) -> int:
    """One output of ADD or MUL, with the kernels' integer arithmetic (tml_add / tml_mul)."""

    def field(key: str) -> int:
        return int(str(fields[key]))

    requantize = arithmetic.multiply_by_quantized_multiplier
    if name == "ADD":
        shifted1 = (a + field("input1_offset")) * (1 << field("left_shift"))
        shifted2 = (b + field("input2_offset")) * (1 << field("left_shift"))
        total = requantize(
            shifted1, field("input1_multiplier"), field("input1_shift")
        ) + requantize(shifted2, field("input2_multiplier"), field("input2_shift"))
    else:
        total = (a + field("input1_offset")) * (b + field("input2_offset"))
    value = requantize(total, field("output_multiplier"), field("output_shift"))
    return min(max(value + field("output_offset"), field("act_min")), field("act_max"))


def _lookup_table(emitter: Emitter, operator: Operator, fields: dict[str, object]) -> str | None:
    """ADD or MUL of an activation and one constant: a 256-entry table of its outputs."""
    first, second = (emitter.tensor(i) for i in operator.inputs[:2])
    output = emitter.tensor(operator.outputs[0])
    for variable, constant, position in ((first, second, 1), (second, first, 0)):
        if constant.data is None or constant.size != 1 or variable.data is not None:
            continue
        if variable.size != output.size:
            continue
        fixed = int(np.asarray(constant.data).ravel()[0])
        table = [
            _binary_one(operator.name, fields, *((a, fixed) if position else (fixed, a)))
            for a in range(-128, 128)
        ]
        name = emitter.int8_array(f"tml_qparam_{operator.index}_table", table)
        source = emitter.pointer(variable.index)
        target = emitter.pointers[operator.outputs[0]]
        return (
            f"    tml_lookup({name}, {source}, {target}, {output.size});"
            f"  /* {operator.name} #{operator.index} */"
        )
    return None


def emit_softmax(emitter: Emitter, operator: Operator) -> str:
    """SOFTMAX int8 -> int8 over the last axis."""
    source = emitter.tensor(operator.inputs[0])
    target = quantization_of(emitter, operator.outputs[0], operator)
    if target.zero_point != -128 or not np.isclose(target.scale, SOFTMAX_OUTPUT_SCALE):
        raise UnsupportedOperator(operator.name, "output quantization other than 1/256, -128")
    scale = quantization_of(emitter, operator.inputs[0], operator).scale
    try:
        multiplier, left_shift, diff_min = arithmetic.softmax_parameters(
            operator.options["beta"], scale
        )
    except ValueError as error:
        raise UnsupportedOperator(operator.name, str(error)) from error
    depth = source.shape[-1] if source.shape else 1
    fields: dict[str, object] = {
        "outer": source.size // depth,
        "depth": depth,
        "input_multiplier": multiplier,
        "input_left_shift": left_shift,
        "diff_min": diff_min,
    }
    name = f"tml_op_{operator.index}"
    emitter.declarations.append(c_struct("tml_softmax_params", name, fields))
    return call_kernel("tml_softmax", name, emitter, operator)


def emit_pad(emitter: Emitter, operator: Operator) -> str:
    """PAD with the output zero point (zero in real terms)."""
    source = emitter.tensor(operator.inputs[0])
    target = emitter.tensor(operator.outputs[0])
    paddings = constant_input(emitter, operator, 1, "paddings")
    if len(source.shape) > 4 or paddings.data is None:
        raise UnsupportedOperator(operator.name, "more than 4 dimensions")
    extra = 4 - len(source.shape)
    before = [0] * extra + [int(row[0]) for row in paddings.data.reshape(-1, 2).tolist()]
    fields: dict[str, object] = {
        "in_dims": (1,) * extra + source.shape,
        "out_dims": (1,) * extra + target.shape,
        "before": before,
        "pad_value": quantization_of(emitter, operator.outputs[0], operator).zero_point,
    }
    name = f"tml_op_{operator.index}"
    emitter.declarations.append(c_struct("tml_pad_params", name, fields))
    return call_kernel("tml_pad", name, emitter, operator)


def emit_quantize(emitter: Emitter, operator: Operator) -> str:
    """QUANTIZE int8 -> int8 (requantization)."""
    source = emitter.tensor(operator.inputs[0])
    if source.dtype != "INT8":
        raise UnsupportedOperator(operator.name, f"{source.dtype} input (int8 expected)")
    q_in = quantization_of(emitter, operator.inputs[0], operator)
    q_out = quantization_of(emitter, operator.outputs[0], operator)
    real = float(np.float32(q_in.scale)) / float(np.float32(q_out.scale))
    multiplier, shift = arithmetic.quantize_multiplier(real)
    fields: dict[str, object] = {
        "size": source.size,
        "input_zero_point": q_in.zero_point,
        "output_zero_point": q_out.zero_point,
        "multiplier": multiplier,
        "shift": shift,
    }
    name = f"tml_op_{operator.index}"
    emitter.declarations.append(c_struct("tml_requantize_params", name, fields))
    return call_kernel("tml_requantize_tensor", name, emitter, operator)


def emit_reshape(emitter: Emitter, operator: Operator) -> str:
    """RESHAPE: the planner gives the output the input's bytes; copy only if it could not."""
    source, target = emitter.pointer(operator.inputs[0]), emitter.pointers[operator.outputs[0]]
    if source == target:
        return f"    /* RESHAPE #{operator.index}: in place */"
    size = emitter.tensor(operator.outputs[0]).size
    return f"    tml_copy({source}, {target}, {size});  /* RESHAPE #{operator.index} */"


EMITTERS: dict[str, EmitFunction] = {
    "CONV_2D": emit_conv,
    "DEPTHWISE_CONV_2D": emit_conv,
    "FULLY_CONNECTED": emit_fully_connected,
    "MAX_POOL_2D": emit_pool,
    "AVERAGE_POOL_2D": emit_pool,
    "MEAN": emit_mean,
    "ADD": emit_binary,
    "MUL": emit_binary,
    "SOFTMAX": emit_softmax,
    "PAD": emit_pad,
    "QUANTIZE": emit_quantize,
    "RESHAPE": emit_reshape,
}
