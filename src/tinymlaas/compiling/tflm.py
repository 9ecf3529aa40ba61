"""Run .tflite models in the real TFLite-Micro runtime (PyPI tflite-micro) and measure its arena.

TFLite-Micro trusts the model it is given: a corrupt flatbuffer, an arena below a few hundred
bytes or a quantization it cannot represent crashes the process instead of raising. Every entry
point therefore checks the model with LiteRT first (`litert.check_model`), then for the known
aborts (`check_micro_model`), and refuses arenas below MINIMUM_ARENA_BYTES. LiteRT checks a copy
in which the one field it is stricter about than TFLite-Micro, a bias's quantized dimension
as older converters wrote it, is fixed (`litert.litert_compatible`); TFLite-Micro runs the
original bytes.
"""

import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tinymlaas.compiling.litert import check_model
from tinymlaas.compiling.quantize import (
    TensorInfo,
    dequantize_output,
    quantize_input,
    tensor_info,
)

# The runtime places its own allocator objects (~464 bytes) in the arena and segfaults when
# they do not fit; any real model needs more than this anyway.
MINIMUM_ARENA_BYTES = 1024
# The runtime aligns the arena's start (and its tensors) to 16 bytes.
ARENA_ALIGNMENT_BYTES = 16
# Arena used to measure a model: generous, since untouched pages of it cost nothing.
MEASUREMENT_ARENA_BYTES = 64 * 2**20
# TFLM's int8/int16 softmax needs beta * input_scale * 2**26 >= 1, else it calls abort().
_SOFTMAX_MIN_SCALED_MULTIPLIER = 2.0**-26
_ALLOCATION_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")
# fd 2 is process-wide: only one thread at a time may point it elsewhere.
_STDERR_LOCK = threading.Lock()


class ArenaTooSmall(RuntimeError):
    """The tensor arena cannot hold the model's tensors."""


@dataclass(frozen=True)
class ArenaMeasurement:
    """The smallest tensor arena the model runs in, and how that was found."""

    arena_bytes: int
    method: Literal["print_allocations", "bisection"]


@dataclass
class _CapturedStderr:
    text: str = ""


@contextmanager
def _capture_stderr() -> Iterator[_CapturedStderr]:
    """Send the C-level fd 2 to a temporary file for the duration; its text is set on exit.

    The runtime prints with C stdio, which `sys.stderr` redirection does not see. Output of other
    threads during the (millisecond) window lands in the capture too.
    """
    captured = _CapturedStderr()
    with _STDERR_LOCK, tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(capture.fileno(), 2)
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            captured.text = capture.read().decode("utf-8", errors="replace")


def check_micro_model(model: bytes) -> None:
    """Raise ValueError unless `model` is valid and free of the quantizations TFLM aborts on."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    check_model(model)
    root = schema.Model.GetRootAsModel(model, 0)
    quantized_types = {schema.TensorType.INT8, schema.TensorType.INT16}
    for subgraph_index in range(root.SubgraphsLength()):
        subgraph = root.Subgraphs(subgraph_index)
        for operator_index in range(subgraph.OperatorsLength()):
            operator = subgraph.Operators(operator_index)
            code = root.OperatorCodes(operator.OpcodeIndex())
            if (
                max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
                != schema.BuiltinOperator.SOFTMAX
            ):
                continue
            tensor = subgraph.Tensors(operator.Inputs(0))
            quantization = tensor.Quantization()
            if tensor.Type() not in quantized_types or quantization is None:
                continue
            options = schema.SoftmaxOptions()
            table = operator.BuiltinOptions()
            beta = 1.0
            if table is not None:
                options.Init(table.Bytes, table.Pos)
                beta = options.Beta()
            scale = quantization.Scale(0) if quantization.ScaleLength() else 0.0
            if beta * scale < _SOFTMAX_MIN_SCALED_MULTIPLIER:
                raise ValueError(
                    f"TFLite-Micro cannot run this model: its softmax input scale {scale:.3g} is "
                    "too small (the logits span almost no range; is the model trained?)"
                )


def measure_arena(model: bytes) -> ArenaMeasurement:
    """Return the tensor arena the model needs in TFLite-Micro's reference runtime.

    Reads the allocation recorder's total after one invoke; if that line cannot be parsed,
    bisects the smallest arena that loads and invokes. Both agree to the byte on this runtime.
    Optimized kernels on a board (CMSIS-NN scratch buffers) may need more: keep a margin.
    """
    check_micro_model(model)
    interpreter = _load(model, MEASUREMENT_ARENA_BYTES)
    _invoke_zeros(interpreter)
    with _capture_stderr() as captured:
        interpreter.print_allocations()
    match = _ALLOCATION_TOTAL.search(captured.text)
    if match is None:
        return ArenaMeasurement(bisect_arena(model), "bisection")
    recorded = int(match.group(1))
    if _runs_in(model, recorded):
        return ArenaMeasurement(recorded, "print_allocations")
    # The recorder can leave out what loading itself takes: a 3.9 KB model recorded 2,400
    # bytes and needs 2,856. Then the measurement is the smallest arena that runs, plus the
    # alignment the runtime may have to pad when the arena buffer starts elsewhere.
    smallest = bisect_arena(model, low=recorded)
    return ArenaMeasurement(smallest + ARENA_ALIGNMENT_BYTES, "bisection")


def bisect_arena(
    model: bytes, high: int = MEASUREMENT_ARENA_BYTES, low: int = MINIMUM_ARENA_BYTES
) -> int:
    """Return the smallest arena size (bytes) in which the model loads and invokes.

    `low` may be given when the model is known not to run in fewer bytes.
    """
    check_micro_model(model)
    if not _runs_in(model, high):
        raise ArenaTooSmall(f"the model does not run even in a {high}-byte arena")
    low = max(low, MINIMUM_ARENA_BYTES)
    if _runs_in(model, low):
        return low
    # Invariant: the model fails in `low` bytes and runs in `high` bytes.
    while high - low > 1:
        middle = (low + high) // 2
        if _runs_in(model, middle):
            high = middle
        else:
            low = middle
    return high


class MicroRunner:
    """A loaded TFLite-Micro interpreter that turns uint8 pixels into float scores.

    Not thread-safe: give each thread its own runner.
    """

    def __init__(self, model: bytes, arena_bytes: int | None = None) -> None:
        model = bytes(model)
        check_micro_model(model)
        if arena_bytes is None:
            arena_bytes = measure_arena(model).arena_bytes
        self.arena_bytes = arena_bytes
        # The runtime reads the flatbuffer in place: keep it alive as long as the interpreter.
        self._model = model
        self._interpreter = _load(model, arena_bytes)
        self.input: TensorInfo = _describe(self._interpreter.get_input_details(0))
        self.output: TensorInfo = _describe(self._interpreter.get_output_details(0))

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Return float scores (N, classes) for uint8 pixels (N, H, W, C)."""
        return dequantize_output(self.predict_raw(pixels), self.output)

    def predict_raw(self, pixels: np.ndarray) -> np.ndarray:
        """Return the output tensor's own values (int8 for an int8 model) for uint8 pixels."""
        quantized = quantize_input(pixels, self.input)
        raw = np.empty((len(quantized), *self.output.shape[1:]), dtype=self.output.dtype)
        for position, sample in enumerate(quantized):
            raw[position] = self._invoke(sample)[0]
        return raw

    def invoke_timed(self, pixels_one: np.ndarray) -> tuple[np.ndarray, float]:
        """Return the scores (classes,) for one image (H, W, C) and the invoke latency in ms."""
        batch = pixels_one if pixels_one.ndim == len(self.input.shape) else pixels_one[np.newaxis]
        if len(batch) != 1:
            raise ValueError(f"invoke_timed takes one image, got {len(batch)}")
        quantized = quantize_input(batch, self.input)
        started = time.perf_counter_ns()
        raw = self._invoke(quantized[0])
        latency_ms = (time.perf_counter_ns() - started) / 1e6
        return dequantize_output(raw, self.output)[0], latency_ms

    def invoke_quantized(self, sample: np.ndarray) -> tuple[np.ndarray, float]:
        """Run one input already in the tensor's type (H, W, C): raw outputs and latency in ms."""
        started = time.perf_counter_ns()
        raw = self._invoke(sample)
        return raw[0], (time.perf_counter_ns() - started) / 1e6

    def _invoke(self, sample: np.ndarray) -> np.ndarray:
        """Run one quantized sample (without batch axis); return the raw output with batch axis."""
        # Stateful ops (resource variables) would carry over between images; reset is cheap.
        self._interpreter.reset()
        self._interpreter.set_input(np.ascontiguousarray(sample[np.newaxis]), 0)
        self._interpreter.invoke()
        # Copy: the output lives in the arena, which the next invoke overwrites.
        return np.array(self._interpreter.get_output(0), copy=True)


def predict(model: bytes, pixels: np.ndarray, arena_bytes: int | None = None) -> np.ndarray:
    """Return float scores (N, classes) for uint8 pixels (N, H, W, C) computed by TFLite-Micro."""
    return MicroRunner(model, arena_bytes).predict(pixels)


def tflm_version() -> str:
    """Return the installed tflite-micro version (for manifests)."""
    import tflite_micro

    return str(tflite_micro.__version__)


def _load(model: bytes, arena_bytes: int) -> Any:
    """Create an allocation-recording interpreter; ArenaTooSmall if the arena does not suffice."""
    from tflite_micro import runtime

    if arena_bytes < MINIMUM_ARENA_BYTES:
        raise ValueError(f"arena_bytes must be at least {MINIMUM_ARENA_BYTES}, got {arena_bytes}")
    with _capture_stderr() as captured:
        try:
            return runtime.Interpreter.from_bytes(
                model,
                arena_size=arena_bytes,
                intrepreter_config=runtime.InterpreterConfig.kAllocationRecording,
            )
        except RuntimeError as error:
            failure = error
    detail = " ".join(captured.text.split())
    raise ArenaTooSmall(
        f"a {arena_bytes}-byte arena is too small for this model: {failure}"
        + (f" ({detail})" if detail else "")
    ) from failure


def _runs_in(model: bytes, arena_bytes: int) -> bool:
    """Whether the model loads and invokes in an arena of `arena_bytes`."""
    try:
        # Invoke too: some kernels request scratch buffers only at their first invoke.
        _invoke_zeros(_load(model, arena_bytes))
    except RuntimeError:  # ArenaTooSmall included
        return False
    return True


def _invoke_zeros(interpreter: Any) -> None:
    """Invoke once on an all-zero input, which fixes every lazily planned allocation."""
    details = interpreter.get_input_details(0)
    with _capture_stderr():
        interpreter.set_input(np.zeros(details["shape"], dtype=details["dtype"]), 0)
        interpreter.invoke()


def _describe(detail: dict[str, Any]) -> TensorInfo:
    """Convert the runtime's details of one tensor into a TensorInfo."""
    quantization = detail["quantization_parameters"]
    return tensor_info(
        detail["shape"], detail["dtype"], quantization["scales"], quantization["zero_points"]
    )
