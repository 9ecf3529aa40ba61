"""Find where generated C and TFLite-Micro part ways (worker side; a debugging aid).

`trace(library, sample)` runs the generated C with its TML_TRACE hook on and returns every
operator's output; `first_difference` compares them with TFLite-Micro's own intermediate
tensors (its interpreter keeps them all with `kPreserveAllTensors`).
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tinymlaas.engine.codegen import GeneratedLibrary
from tinymlaas.engine.reader import read_model

_TRACE_SOURCE = """#include <stdint.h>
void (*tml_trace_hook)(int32_t, const int8_t *, int32_t) = 0;
void tml_host_trace(int32_t op, const int8_t *data, int32_t size)
{
    if (tml_trace_hook != 0) {
        tml_trace_hook(op, data, size);
    }
}
"""
_TRACE_HEADER = """#include <stdint.h>
void tml_host_trace(int32_t op, const int8_t *data, int32_t size);
"""
_HOOK = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.POINTER(ctypes.c_int8), ctypes.c_int32)


def trace(library: GeneratedLibrary, sample: np.ndarray) -> dict[int, np.ndarray]:
    """Return {operator index: its int8 output bytes} for one int8 input."""
    directory = Path(tempfile.mkdtemp(prefix="tml-trace-"))
    try:
        for name, text in library.files.items():
            (directory / name).write_text(text, encoding="utf-8")
        (directory / "tml_host_trace.c").write_text(_TRACE_SOURCE, encoding="utf-8")
        (directory / "tml_host_trace.h").write_text(_TRACE_HEADER, encoding="utf-8")
        path = directory / "libtrace.so"
        sources = sorted(str(p) for p in directory.glob("*.c"))
        subprocess.run(
            ["cc", "-std=c99", "-O1", "-fPIC", "-shared", "-o", str(path),
             "-DTML_TRACE(op,data,size)=tml_host_trace(op,data,size)",
             "-include", str(directory / "tml_host_trace.h"), *sources],
            check=True, capture_output=True,
        )  # fmt: skip
        loaded = ctypes.CDLL(str(path))
        outputs: dict[int, np.ndarray] = {}

        def record(op: int, data: ctypes.Array[ctypes.c_int8], size: int) -> None:
            outputs[op] = np.ctypeslib.as_array(data, shape=(size,)).copy()

        hook = _HOOK(record)
        ctypes.c_void_p.in_dll(loaded, "tml_trace_hook").value = ctypes.cast(
            hook, ctypes.c_void_p
        ).value
        source = np.ascontiguousarray(sample, dtype=np.int8).ravel()
        target = np.empty(library.output_size, dtype=np.int8)
        loaded.tml_invoke(ctypes.c_void_p(source.ctypes.data), ctypes.c_void_p(target.ctypes.data))
        return outputs
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def first_difference(
    model: bytes, library: GeneratedLibrary, sample: np.ndarray
) -> tuple[int, str] | None:
    """The first operator (index, name) whose C output differs from TFLite-Micro's, or None."""
    from tflite_micro import runtime

    graph = read_model(model)
    interpreter = runtime.Interpreter.from_bytes(
        model, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors
    )
    interpreter.set_input(np.ascontiguousarray(sample).reshape(library.input_shape), 0)
    interpreter.invoke()
    ours = trace(library, sample)
    for operator in graph.operators:
        details = interpreter.GetTensor(operator.outputs[0], 0)
        reference = np.asarray(details["tensor_data"]).ravel()
        if not np.array_equal(reference.astype(np.int8), ours[operator.index]):
            return operator.index, operator.name
    return None
