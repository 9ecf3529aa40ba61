"""Turn an int8 .tflite model into dependency-free C99 sources (pure: bytes in, text out).

The library's API is fixed (`tinymlaas_model.h`): `TML_INPUT_SIZE`, `TML_OUTPUT_SIZE` (bytes of
the int8 input and output tensors) and `int tml_invoke(const int8_t *input, int8_t *output)`.
In the generated `tinymlaas_model.c`, arrays named `tml_weight_<tensor>` are the model's weights
and biases, `tml_qparam_<op>_*` the per-channel requantization constants, `tml_op_<op>` the
operators' parameters (all `static const`, i.e. flash on a microcontroller); `tml_arena` is
the one activation buffer, with every tensor's offset planned here. The kernel sources
(`tml_kernels.h`, `tml_*.c`; `tml_inplace.*` when an operator runs in place) sit beside it,
so `cc -std=c99 -O2 -c *.c` builds the library.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from tinymlaas.engine import arithmetic, planner
from tinymlaas.engine.codegen_misc import EMITTERS
from tinymlaas.engine.codegen_ops import Emitter
from tinymlaas.engine.in_place import RowSchedule, RowWindow, row_schedule
from tinymlaas.engine.reader import Graph, Operator, read_model

HEADER_NAME = "tinymlaas_model.h"
SOURCE_NAME = "tinymlaas_model.c"
# Added only when an operator runs in place (their code would otherwise be linked for nothing).
IN_PLACE_KERNEL_FILES = ("tml_inplace.h", "tml_inplace.c")
_ELEMENTWISE = {"ADD", "MUL", "QUANTIZE"}
_IN_PLACE_KERNELS = {
    "CONV_2D": "tml_conv2d_in_place",
    "DEPTHWISE_CONV_2D": "tml_depthwise_conv2d_in_place",
    "MAX_POOL_2D": "tml_max_pool2d_in_place",
    "AVERAGE_POOL_2D": "tml_average_pool2d_in_place",
}


@dataclass(frozen=True)
class TensorQuantization:
    """How the int8 input/output values map to real numbers: real = (q - zero_point) * scale."""

    scale: float
    zero_point: int


@dataclass(frozen=True)
class GeneratedLibrary:
    """The generated C sources (file name -> text) and the figures known at generation time."""

    files: dict[str, str]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_size: int  # bytes of the int8 input tensor
    output_size: int
    input_quantization: TensorQuantization
    output_quantization: TensorQuantization
    peak_bytes: int  # the planned activation buffer
    floor_bytes: int  # the largest input + output activation bytes of any single operator
    weights_bytes: int  # the model's weights and biases (tml_weight_* arrays)
    qparams_bytes: int  # per-channel requantization multipliers and shifts (tml_qparam_*)
    operators: tuple[str, ...]  # distinct operators, in order of first use
    # How many bytes below the ordinary plan (every operator's own output buffer) running
    # some operators in place brought the peak, and which operators (indices) run so.
    in_place_saved_bytes: int = 0
    in_place_operators: tuple[int, ...] = ()


def generate(model: bytes, in_place: planner.InPlaceMode = "auto") -> GeneratedLibrary:
    """Generate the C library of `model`; raise UnsupportedModel/UnsupportedOperator if needed.

    `in_place` ("auto", "none", "all"): which operators may write over their input (planner).
    """
    graph = read_model(model)
    sizes = _activation_sizes(graph)
    schedules = _row_schedules(graph)
    steps = _steps(graph, schedules)
    memory = planner.plan(steps, sizes, graph.inputs, graph.outputs, in_place)
    pointers = {index: _arena(offset) for index, offset in memory.offsets.items()}
    emitter = Emitter(graph, pointers)
    calls = []
    for operator in graph.operators:
        call = EMITTERS[operator.name](emitter, operator)
        if operator.index in memory.in_place:
            scratch = _arena(memory.in_place[operator.index])
            call = _in_place_call(emitter, operator, scratch, schedules[operator.index].lag)
        calls.append(_traced(call, operator.index, emitter, graph))
    source_tensor = graph.tensors[graph.inputs[0]]
    target_tensor = graph.tensors[graph.outputs[0]]
    files = {
        HEADER_NAME: _header(source_tensor.nbytes, target_tensor.nbytes),
        SOURCE_NAME: _source(emitter, calls, memory, graph),
    }
    kernels = resources.files("tinymlaas.engine") / "kernels"
    for entry in sorted(kernels.iterdir(), key=lambda entry: entry.name):
        if not entry.name.endswith((".c", ".h")):
            continue
        if entry.name in IN_PLACE_KERNEL_FILES and not memory.in_place:
            continue
        files[entry.name] = entry.read_text(encoding="utf-8")
    assert source_tensor.quantization is not None
    assert target_tensor.quantization is not None
    return GeneratedLibrary(
        files=files,
        input_shape=source_tensor.shape,
        output_shape=target_tensor.shape,
        input_size=source_tensor.nbytes,
        output_size=target_tensor.nbytes,
        input_quantization=TensorQuantization(
            source_tensor.quantization.scale, source_tensor.quantization.zero_point
        ),
        output_quantization=TensorQuantization(
            target_tensor.quantization.scale, target_tensor.quantization.zero_point
        ),
        peak_bytes=memory.peak_bytes,
        floor_bytes=memory.floor_bytes,
        weights_bytes=emitter.weight_bytes,
        qparams_bytes=emitter.qparam_bytes,
        operators=tuple(dict.fromkeys(operator.name for operator in graph.operators)),
        in_place_saved_bytes=memory.in_place_saved_bytes,
        in_place_operators=tuple(sorted(memory.in_place)),
    )


def _arena(offset: int) -> str:
    return f"(tml_arena.bytes + {offset})"


def _traced(call: str, index: int, emitter: Emitter, graph: Graph) -> str:
    """A kernel call followed by the (normally empty) trace hook on its output."""
    output = graph.tensors[graph.operators[index].outputs[0]]
    pointer = emitter.pointers[output.index]
    return f"{call}\n    TML_TRACE({index}, {pointer}, {output.nbytes});"


def _activation_sizes(graph: Graph) -> dict[int, int]:
    indices = {*graph.inputs, *graph.outputs}
    for operator in graph.operators:
        indices.update(i for i in (*operator.inputs, *operator.outputs) if i >= 0)
    return {
        index: graph.tensors[index].nbytes
        for index in sorted(indices)
        if not graph.tensors[index].is_constant
    }


def _steps(graph: Graph, schedules: dict[int, RowSchedule]) -> list[planner.Step]:
    steps = []
    for operator in graph.operators:
        activations = tuple(
            i for i in operator.inputs if i >= 0 and not graph.tensors[i].is_constant
        )
        kind: planner.StepKind = "other"
        if operator.name == "RESHAPE":
            kind = "alias"
        elif operator.name in _ELEMENTWISE:
            kind = "elementwise"
        schedule = schedules.get(operator.index)
        spec = None
        if schedule is not None:
            spec = planner.InPlace(schedule.input_shift, schedule.scratch_bytes)
        steps.append(planner.Step(activations, operator.outputs, kind, spec))
    return steps


def _row_schedules(graph: Graph) -> dict[int, RowSchedule]:
    """How each windowed operator would run in place (the planner decides whether it does)."""
    schedules = {}
    for operator in graph.operators:
        window = _row_window(graph, operator)
        if window is not None:
            schedules[operator.index] = row_schedule(window, planner.ALIGNMENT)
    return schedules


def _row_window(graph: Graph, operator: Operator) -> RowWindow | None:
    """The operator's rows, if it is a convolution or pool on an NHWC activation (batch 1)."""
    if operator.name not in _IN_PLACE_KERNELS or not operator.inputs or not operator.outputs:
        return None
    if operator.inputs[0] < 0:
        return None
    source = graph.tensors[operator.inputs[0]]
    target = graph.tensors[operator.outputs[0]]
    if source.is_constant or len(source.shape) != 4 or len(target.shape) != 4:
        return None
    if source.shape[0] != 1 or target.shape[0] != 1:
        return None
    options = operator.options
    dilation = 1
    if operator.name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        if len(operator.inputs) < 2 or operator.inputs[1] < 0:
            return None
        weights = graph.tensors[operator.inputs[1]]
        if len(weights.shape) != 4:
            return None
        filter_h, dilation = weights.shape[1], options["dilation"][0]
    else:
        filter_h = options["filter"][0]
    stride = options["stride"][0]
    return RowWindow(
        in_rows=source.shape[1],
        in_row_bytes=source.shape[2] * source.shape[3],
        out_rows=target.shape[1],
        out_row_bytes=target.shape[2] * target.shape[3],
        stride=stride,
        pad=arithmetic.same_padding(
            source.shape[1], stride, filter_h, dilation, options["padding"]
        ),
        window=(filter_h - 1) * dilation + 1,
    )


def _in_place_call(emitter: Emitter, operator: Operator, scratch: str, lag: int) -> str:
    """The in-place kernel on the parameters the operator's emitter declared (tml_op_<n>)."""
    kernel = _IN_PLACE_KERNELS[operator.name]
    source = emitter.pointer(operator.inputs[0])
    target = emitter.pointers[operator.outputs[0]]
    return (
        f"    {kernel}(&tml_op_{operator.index}, {source}, {target}, {scratch}, {lag});"
        f"  /* {operator.name} #{operator.index}, in place */"
    )


def _header(input_size: int, output_size: int) -> str:
    return f"""/* Generated by TinyMLaaS: the model as plain C99. See {SOURCE_NAME}. */
#ifndef TINYMLAAS_MODEL_H
#define TINYMLAAS_MODEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

/* Bytes of the int8 input and output tensors. */
#define TML_INPUT_SIZE {input_size}
#define TML_OUTPUT_SIZE {output_size}

/* Run the model on TML_INPUT_SIZE int8 values; write TML_OUTPUT_SIZE int8 scores.
 * Returns 0 on success. Not reentrant: the activations live in one static buffer. */
int tml_invoke(const int8_t *input, int8_t *output);

#ifdef __cplusplus
}}
#endif

#endif /* TINYMLAAS_MODEL_H */
"""


def _source(emitter: Emitter, calls: list[str], memory: planner.Plan, graph: Graph) -> str:
    arena = max(memory.peak_bytes, 1)
    source_pointer = emitter.pointers[graph.inputs[0]]
    target_pointer = emitter.pointers[graph.outputs[0]]
    input_size = graph.tensors[graph.inputs[0]].nbytes
    output_size = graph.tensors[graph.outputs[0]].nbytes
    return "\n".join(
        [
            "/* Generated by TinyMLaaS. Weights: tml_weight_*; requantization constants:",
            " * tml_qparam_*; operator parameters: tml_op_* (all const); activations: tml_arena.",
            f" * Planned activation buffer: {memory.peak_bytes} bytes; per-operator floor:",
            f" * {memory.floor_bytes} bytes; in-place operators saved"
            f" {memory.in_place_saved_bytes} bytes. */",
            f'#include "{HEADER_NAME}"',
            '#include "tml_kernels.h"',
            *(['#include "tml_inplace.h"'] if memory.in_place else []),
            "",
            "/* Debug builds define TML_TRACE(op, data, size) to see every operator's output. */",
            "#ifndef TML_TRACE",
            "#define TML_TRACE(op, data, size) ((void)0)",
            "#endif",
            "",
            *emitter.arrays,
            *emitter.declarations,
            "/* The activation buffer, aligned for any access. */",
            "static union {",
            "    int64_t align;",
            "    double align_double;",
            f"    int8_t bytes[{arena}];",
            "} tml_arena;",
            "",
            "int tml_invoke(const int8_t *input, int8_t *output)",
            "{",
            f"    tml_copy(input, {source_pointer}, {input_size});",
            *calls,
            f"    tml_copy({target_pointer}, output, {output_size});",
            "    return 0;",
            "}",
            "",
        ]
    )
