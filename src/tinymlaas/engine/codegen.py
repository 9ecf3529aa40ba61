"""Turn an int8 .tflite model into dependency-free C99 sources (pure: bytes in, text out).

The library's API is fixed (`tinymlaas_model.h`): `TML_INPUT_SIZE`, `TML_OUTPUT_SIZE` (bytes of
the int8 input and output tensors) and `int tml_invoke(const int8_t *input, int8_t *output)`.
In the generated `tinymlaas_model.c`, arrays named `tml_weight_<tensor>` are the model's weights
and biases, `tml_qparam_<op>_*` the per-channel requantization constants, `tml_op_<op>` the
operators' parameters (all `static const`, i.e. flash on a microcontroller); `tml_arena` is
the one activation buffer, with every tensor's offset planned here. The kernel sources
(`tml_kernels.h`, `tml_*.c`) sit beside it, so `cc -std=c99 -O2 -c *.c` builds the library.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from tinymlaas.engine import planner
from tinymlaas.engine.codegen_misc import EMITTERS
from tinymlaas.engine.codegen_ops import Emitter
from tinymlaas.engine.reader import Graph, read_model

HEADER_NAME = "tinymlaas_model.h"
SOURCE_NAME = "tinymlaas_model.c"
_ELEMENTWISE = {"ADD", "MUL", "QUANTIZE"}


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


def generate(model: bytes) -> GeneratedLibrary:
    """Generate the C library of `model`; raise UnsupportedModel/UnsupportedOperator if needed."""
    graph = read_model(model)
    sizes = _activation_sizes(graph)
    memory = planner.plan(_steps(graph), sizes, graph.inputs, graph.outputs)
    pointers = {index: f"(tml_arena.bytes + {offset})" for index, offset in memory.offsets.items()}
    emitter = Emitter(graph, pointers)
    calls = [
        _traced(EMITTERS[operator.name](emitter, operator), operator.index, emitter, graph)
        for operator in graph.operators
    ]
    source_tensor = graph.tensors[graph.inputs[0]]
    target_tensor = graph.tensors[graph.outputs[0]]
    files = {
        HEADER_NAME: _header(source_tensor.nbytes, target_tensor.nbytes),
        SOURCE_NAME: _source(emitter, calls, memory, graph),
    }
    kernels = resources.files("tinymlaas.engine") / "kernels"
    for entry in sorted(kernels.iterdir(), key=lambda entry: entry.name):
        if entry.name.endswith((".c", ".h")):
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
    )


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


def _steps(graph: Graph) -> list[planner.Step]:
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
        steps.append(planner.Step(activations, operator.outputs, kind))
    return steps


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
            f" * {memory.floor_bytes} bytes. */",
            f'#include "{HEADER_NAME}"',
            '#include "tml_kernels.h"',
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
