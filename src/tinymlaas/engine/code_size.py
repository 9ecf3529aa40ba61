"""The C engine's code in flash and its stack, from the operators of a model (pure).

Before a model is compiled and measured on its core (baremetal.py), its program's code and
stack are estimated here from what the generated library holds. The constants come from the
linker figures of the bare-metal build (`arm-none-eabi-gcc -O2 -mthumb` for a Cortex-M4F,
symbol sizes by `nm -S`, the model's share by the linker map: baremetal_build.read_sizes),
measured with bench/c_engine_footprints.py --measure on 2026-12-01, after 3×3 depthwise
convolutions and one-channel first convolutions took filters packed at generation
(28 untrained int8 models at 32 and 48 px, 48 px having a PAD and operators in place:
cnn-small at every alpha and colour mode, MobileNet v1 α0.1/0.2/0.25 in both colour modes and
α0.5 grayscale, MobileNetV2 α0.05 grayscale. 64 and 96 px give the operators of 32 px; they,
MobileNet v1 α0.5 RGB and the other MobileNetV2s were not run under QEMU again that day, the
machine being loaded):

- The kernel sources are linked whole (no per-function garbage collection), so every library
  carries the same kernel code (tml_kernels.c, tml_conv.c, tml_depthwise.c,
  tml_depthwise_packed.c, tml_softmax.c, the libc helpers they pull in): BASE_CODE_BYTES, with
  tml_invoke's fixed part.
- tml_inplace.c is added only when an operator runs in place: IN_PLACE_CODE_BYTES.
- Each operator adds its `tml_op_<n>` parameter struct (sizes by `nm`: 104 B for a
  convolution, its packed filter's two pointers included; 52 for a pool or pad, ...) and its
  call in tml_invoke (OPERATOR_CALL_BYTES).
- MobileNets rescale their input with a MUL and an ADD that take no struct and are called
  without one; INPUT_RESCALE_BYTES (negative) takes back what the counts above give them.

BASE_CODE_BYTES, OPERATOR_CALL_BYTES, IN_PLACE_CODE_BYTES and INPUT_RESCALE_BYTES are fitted
(least squares) to the measured code less the structs.

Against the measured code of the 28 models: FIT_ERROR_BYTES (least and most of estimate −
measured). The stack is the deepest call chain's, measured by stack painting: the largest
measured, STACK_BYTES (308–596 B measured).
"""

from __future__ import annotations

from collections.abc import Mapping

BASE_CODE_BYTES = 13334
IN_PLACE_CODE_BYTES = 1404
OPERATOR_CALL_BYTES = 13
# The operator's tml_op_<n> struct (nm -S).
OPERATOR_PARAMS_BYTES: dict[str, int] = {
    "CONV_2D": 104,
    "DEPTHWISE_CONV_2D": 104,
    "ADD": 96,
    "MUL": 0,
    "MAX_POOL_2D": 52,
    "AVERAGE_POOL_2D": 52,
    "PAD": 52,
    "MEAN": 28,
    "FULLY_CONNECTED": 48,
    "SOFTMAX": 20,
}
OTHER_OPERATOR_PARAMS_BYTES = 104
INPUT_RESCALE_BYTES = -81
STACK_BYTES = 596
FIT_ERROR_BYTES = (-23, 29)


def code_bytes(operators: Mapping[str, int], in_place_operators: int) -> int:
    """The engine's code and constants other than weights for a model with `operators`
    (name → count) of which `in_place_operators` run in place."""
    count = sum(operators.values())
    params = sum(
        OPERATOR_PARAMS_BYTES.get(name, OTHER_OPERATOR_PARAMS_BYTES) * n
        for name, n in operators.items()
    )
    return (
        BASE_CODE_BYTES
        + OPERATOR_CALL_BYTES * count
        + params
        + (IN_PLACE_CODE_BYTES if in_place_operators else 0)
        + INPUT_RESCALE_BYTES * operators.get("MUL", 0)
    )
