"""Build a small stand-in model library into bare-metal firmware, run it on emulated
Cortex-M cores under QEMU and check what the measurement reports against the host."""

from __future__ import annotations

import ctypes
import random
import re
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

import pytest

from tinymlaas.engine.baremetal import CoreNotEmulated, Measurement, measure
from tinymlaas.engine.baremetal_build import FirmwareDoesNotFit, FirmwareError
from tinymlaas.engine.baremetal_cores import EMULATED_CORES

KiB = 1024
INPUT_SIZE = 64
OUTPUT_SIZE = 10
WEIGHTS = OUTPUT_SIZE * INPUT_SIZE
NANO_FLASH, NANO_RAM = 960 * KiB, 256 * KiB

HEADER = f"""#ifndef TINYMLAAS_MODEL_H
#define TINYMLAAS_MODEL_H
#include <stdint.h>
#define TML_INPUT_SIZE {INPUT_SIZE}
#define TML_OUTPUT_SIZE {OUTPUT_SIZE}
int tml_invoke(const int8_t *input, int8_t *output);
#endif
"""

# A dense layer repeated `passes` times: int8 products summed in a static int32 buffer, then
# scaled in single-precision float (so hard-float cores need their FPU enabled) and saturated
# to int8: enough to move flash, RAM, stack and instructions.
MODEL = """#include "tinymlaas_model.h"
const int8_t tml_weight_dense[TML_OUTPUT_SIZE * TML_INPUT_SIZE] = {%(weights)s};
%(extra)s
static int32_t tml_accumulators[TML_OUTPUT_SIZE];

int tml_invoke(const int8_t *input, int8_t *output)
{
    int pass, o, i;
    for (o = 0; o < TML_OUTPUT_SIZE; o++) {
        tml_accumulators[o] = %(bias)s;
    }
    for (pass = 0; pass < %(passes)d; pass++) {
        for (o = 0; o < TML_OUTPUT_SIZE; o++) {
            for (i = 0; i < TML_INPUT_SIZE; i++) {
                tml_accumulators[o] += (int32_t)input[i] * tml_weight_dense[o * TML_INPUT_SIZE + i];
            }
        }
    }
    for (o = 0; o < TML_OUTPUT_SIZE; o++) {
        int32_t value = (int32_t)((float)tml_accumulators[o] * (0.0037f / %(passes)d));
        output[o] = (int8_t)(value > 127 ? 127 : value < -128 ? -128 : value);
    }
    return %(status)d;
}
"""


def library(
    passes: int = 1, extra_bytes: int = 0, status: int = 0, bias: str = "0"
) -> dict[str, str]:
    """The stand-in library's files; `extra_bytes` adds a second const weight array."""
    draw = random.Random(12)
    weights = ",".join(str(draw.randint(-128, 127)) for _ in range(WEIGHTS))
    extra = ""
    if extra_bytes:
        extra = (
            f"const int8_t tml_weight_extra[{extra_bytes}] = {{1, 2, 3}};\n"
            "int8_t tml_extra_sink(int i);\n"
            "int8_t tml_extra_sink(int i) { return tml_weight_extra[i]; }\n"
        )
    model = MODEL % {
        "weights": weights,
        "extra": extra,
        "passes": passes,
        "status": status,
        "bias": bias,
    }
    return {"tinymlaas_model.h": HEADER, "model.c": model}


def sample_input() -> bytes:
    return random.Random(7).randbytes(INPUT_SIZE)


def host_output(sources: dict[str, str], input_bytes: bytes, workdir: Path) -> bytes:
    """Build the library with the host's cc as a shared library and run it through ctypes."""
    for name, text in sources.items():
        (workdir / name).write_text(text)
    shared = workdir / "libmodel.so"
    c_files = [name for name in sources if name.endswith(".c")]
    subprocess.run(
        ["cc", "-std=c99", "-O2", "-shared", "-fPIC", *c_files, "-o", shared.name],
        cwd=workdir,
        check=True,
    )
    model = ctypes.CDLL(str(shared))
    output = ctypes.create_string_buffer(OUTPUT_SIZE)
    assert model.tml_invoke(ctypes.c_char_p(input_bytes), output) == 0
    return output.raw


def measure_nano(sources: dict[str, str], core: str = "cortex-m4f") -> Measurement:
    flash = NANO_FLASH if core != "cortex-m55" else 512 * KiB
    return measure(sources, core, flash, NANO_RAM, sample_input())


@pytest.mark.parametrize("core", ["cortex-m4f", "cortex-m7", "cortex-m33", "cortex-m55"])
def test_the_emulated_core_computes_what_the_host_computes(core: str, tmp_path: Path) -> None:
    sources = library()

    measured = measure_nano(sources, core)

    assert measured.output == host_output(sources, sample_input(), tmp_path)
    assert len(set(measured.output)) > 3  # a real spread of values, not a constant
    assert measured.core == core
    assert measured.weights_bytes == WEIGHTS
    # Code: the dense loop (+ memset, which gcc may call to clear the accumulators).
    assert 40 <= measured.code_bytes <= 600
    assert measured.qparams_bytes == 0
    assert measured.flash_bytes == measured.weights_bytes + measured.code_bytes
    assert measured.ram_bytes == 4 * OUTPUT_SIZE  # the static accumulators
    assert measured.firmware_flash_bytes > measured.flash_bytes
    # tml_invoke pushes callee-saved registers, no arrays: tens of bytes.
    assert 8 <= measured.stack_bytes <= 256
    # 640 multiply-accumulates at a handful of instructions each (M55 may vectorise).
    assert WEIGHTS <= measured.instructions <= 10 * WEIGHTS
    assert re.fullmatch(r"\d+\.\d+\.\d+", measured.toolchain.gcc)
    assert "QEMU" in measured.toolchain.qemu
    assert measured.build_seconds + measured.run_seconds < 10
    assert measured.latency_ms_estimate(64) > 0


@pytest.mark.parametrize("core", ["cortex-m4f", "cortex-m7", "cortex-m33", "cortex-m55"])
def test_the_harness_builds_without_warnings(core: str, tmp_path: Path) -> None:
    (tmp_path / "tinymlaas_model.h").write_text(HEADER)
    (tmp_path / "tml_fw_input.h").write_text("static const int8_t tml_fw_input[64] = {0};\n")
    firmware = resources.files("tinymlaas.engine") / "firmware"
    for name in ("tml_fw_startup.c", "tml_fw_harness.c"):
        (tmp_path / name).write_text(firmware.joinpath(name).read_text())
    flags = EMULATED_CORES[core].cpu_flags

    result = subprocess.run(
        ["arm-none-eabi-gcc", "-std=c99", "-O2", "-mthumb", *flags, "-Wall", "-Wextra"]
        + ["-Werror", "-I.", "-c", "tml_fw_startup.c", "tml_fw_harness.c"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr


def test_instructions_repeat_run_to_run_and_scale_with_work() -> None:
    once = measure_nano(library(passes=20))
    again = measure_nano(library(passes=20))
    twice = measure_nano(library(passes=40))

    assert abs(once.instructions - again.instructions) <= once.instructions_resolution
    assert 1.9 <= twice.instructions / once.instructions <= 2.1
    assert once.instructions_resolution == 40  # a 25 MHz SysTick, 1 ns per instruction


def test_an_added_const_array_grows_the_flash_weights_by_its_size() -> None:
    plain = measure_nano(library())
    bigger = measure_nano(library(extra_bytes=3000))

    assert bigger.weights_bytes - plain.weights_bytes == 3000
    assert bigger.flash_bytes - plain.flash_bytes >= 3000
    assert bigger.ram_bytes == plain.ram_bytes


def test_requantization_constants_are_counted_apart_from_weights_and_code() -> None:
    sources = library()
    sources["model.c"] += "const int32_t tml_qparam_multipliers[100] = {1};\n"

    measured = measure_nano(sources)

    assert (measured.weights_bytes, measured.qparams_bytes) == (WEIGHTS, 400)
    assert measured.flash_bytes == WEIGHTS + 400 + measured.code_bytes


def test_a_library_too_big_for_the_board_flash_is_a_link_error() -> None:
    sources = library(extra_bytes=300 * KiB)

    with pytest.raises(FirmwareDoesNotFit) as raised:
        measure(sources, "cortex-m4f", 256 * KiB, NANO_RAM, sample_input())

    message = raised.value.detail
    assert message.startswith("the program does not fit the board: it overflows FLASH by")
    overflow = raised.value.extra["overflows"]["FLASH"]
    assert 44 * KiB < overflow < 48 * KiB  # 300 KiB of weights + code/harness - 256 KiB


def test_activations_too_big_for_the_board_ram_are_a_link_error() -> None:
    sources = library(bias="tml_big_buffer[o]")
    sources["model.c"] = sources["model.c"].replace(
        "static int32_t", "int8_t tml_big_buffer[300000];\nstatic int32_t"
    )

    with pytest.raises(FirmwareDoesNotFit, match="overflows RAM by"):
        measure(sources, "cortex-m7", 1024 * KiB, 256 * KiB, sample_input())


def test_an_error_from_tml_invoke_fails_the_measurement_with_the_program_output() -> None:
    with pytest.raises(FirmwareError) as raised:
        measure_nano(library(status=2))

    assert raised.value.detail == "the program failed on mps2-an386: tml_invoke returned an error"
    assert "TML status 00000002" in raised.value.extra["program_output"]


def test_a_deep_stack_is_measured_and_one_deeper_than_the_free_ram_fails() -> None:
    # A local array the model fills entirely, as a kernel's scratch buffer would be.
    frame = "0; { volatile int8_t frame[%d]; for (i = 0; i < %d; i++) frame[i] = input[i & 63]; }"
    shallow = library(bias=frame % (200 * KiB, 200 * KiB))
    deep = library(bias=frame % (NANO_RAM, NANO_RAM))

    measured = measure_nano(shallow)
    with pytest.raises(FirmwareError) as raised:
        measure_nano(deep)

    assert 200 * KiB < measured.stack_bytes < 200 * KiB + 256
    assert raised.value.detail in {
        "the program failed on mps2-an386: the stack overran all free RAM",
        "the program failed on mps2-an386: the program faulted (a HardFault or another exception)",
    }


def test_a_program_that_never_finishes_times_out() -> None:
    sources = library(bias="0; for (;;) { }")

    with pytest.raises(FirmwareError, match=r"did not finish within 1 s on mps2-an386"):
        measure(sources, "cortex-m4f", NANO_FLASH, NANO_RAM, sample_input(), timeout_s=1)


def test_an_input_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(FirmwareError, match="different size from the library's TML_INPUT_SIZE"):
        measure(library(), "cortex-m4f", NANO_FLASH, NANO_RAM, bytes(INPUT_SIZE + 1))


def test_a_core_without_an_emulator_is_not_measured() -> None:
    with pytest.raises(CoreNotEmulated, match="no measurement on cortex-m0plus: QEMU has no"):
        measure(library(), "cortex-m0plus", NANO_FLASH, NANO_RAM, sample_input())


def test_nothing_is_left_in_the_temporary_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    measure_nano(library())
    with pytest.raises(FirmwareDoesNotFit):
        measure(library(extra_bytes=300 * KiB), "cortex-m4f", 64 * KiB, NANO_RAM, sample_input())

    assert list(tmp_path.iterdir()) == []
