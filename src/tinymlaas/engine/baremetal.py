"""Measure a generated model library on an emulated Cortex-M core: flash, RAM, stack,
instructions per inference and the output bytes.

`measure()` builds the library into a bare-metal program for the core (baremetal_build.py),
links it with the board's flash and RAM sizes (overflowing them is a link error naming the
region), runs it once under `qemu-system-arm -icount shift=0` with semihosting, and parses
what the harness prints. Under `-icount shift=0` QEMU advances virtual time by 1 ns per guest
instruction, so the SysTick count around `tml_invoke` is an instruction count, deterministic
to one tick (32-50 instructions by machine) whatever the host's load. Everything happens in
a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import functools
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tinymlaas.engine.baremetal_build import (
    GCC,
    FirmwareError,
    FirmwareSizes,
    build,
    read_sizes,
    write_linker_script,
    write_sources,
)
from tinymlaas.engine.baremetal_cores import (
    EMULATED_CORES,
    UNMEASURED_CORES,
    EmulatedCore,
    latency_ms_estimate,
)

QEMU = "qemu-system-arm"
DEFAULT_TIMEOUT_S = 30.0
# RAM the linker keeps free for the stack at least; the harness reports the real use.
DEFAULT_MIN_STACK_BYTES = 1024
_EXIT_REASONS = {
    11: "tml_invoke returned an error",
    12: "the stack overran all free RAM",
    13: "the program faulted (a HardFault or another exception)",
}


class CoreNotEmulated(FirmwareError):
    """The board's core has no QEMU machine here, so nothing can be measured."""


@dataclass(frozen=True)
class Toolchain:
    """The versions that built and ran a measurement."""

    gcc: str
    qemu: str


@dataclass(frozen=True)
class Measurement:
    """One inference of a model library on an emulated core.

    The model's figures exclude the measurement harness (startup code, the embedded input,
    the output buffer); `firmware_*` are the whole program's. A run longer than 2**24 SysTick
    ticks (about 670 M instructions) takes SysTick interrupts, whose exception frame (32
    bytes, 104 with floating-point context) may add to `stack_bytes`, as it would on a board.
    """

    core: str
    machine: str
    # The model's flash: weights (tml_weight_*), requantization constants (tml_qparam_*) and
    # code with its other constants (+ the libc helpers it pulls in, e.g. memset).
    flash_bytes: int
    weights_bytes: int
    qparams_bytes: int
    code_bytes: int
    # The model's RAM: .data + .bss (the activation buffer included), without the stack.
    ram_bytes: int
    # The stack tml_invoke used (its deepest call chain), measured by stack painting.
    stack_bytes: int
    instructions: int
    # Instructions per timer tick: the count is exact to this many.
    instructions_resolution: int
    output: bytes
    firmware_flash_bytes: int
    firmware_ram_bytes: int
    toolchain: Toolchain
    build_seconds: float
    run_seconds: float

    def latency_ms_estimate(self, clock_mhz: int) -> float:
        """One inference's latency on a board clocked at `clock_mhz` (an estimate: see
        baremetal_cores for the cycles-per-instruction factor and its source)."""
        return latency_ms_estimate(self.instructions, EMULATED_CORES[self.core], clock_mhz)


def emulated_core(core: str) -> EmulatedCore:
    """The emulated core of this name, or CoreNotEmulated saying why there is none."""
    if core in EMULATED_CORES:
        return EMULATED_CORES[core]
    reason = UNMEASURED_CORES.get(core, "unknown core")
    raise CoreNotEmulated(f"no measurement on {core}: {reason}")


def measure(
    sources: Mapping[str, str | bytes],
    core: str,
    flash_bytes: int,
    ram_bytes: int,
    input_bytes: bytes,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    min_stack_bytes: int = DEFAULT_MIN_STACK_BYTES,
) -> Measurement:
    """Build `sources` (file name -> text of the generated library's top-level files) for
    `core` with a board of `flash_bytes`/`ram_bytes`, run one inference on `input_bytes`
    and return what it measured. Raises FirmwareError (or FirmwareDoesNotFit,
    CoreNotEmulated) with a message for the user."""
    target = emulated_core(core)
    with tempfile.TemporaryDirectory(prefix="tinymlaas-fw-") as tmp:
        workdir = Path(tmp)
        started = time.monotonic()
        library = write_sources(workdir, sources, input_bytes)
        script = write_linker_script(workdir, target, flash_bytes, ram_bytes, min_stack_bytes)
        elf = build(workdir, target, library, script)
        sizes = read_sizes(workdir, elf)
        built = time.monotonic()
        report = _run_firmware(workdir, elf, target, timeout_s)
        finished = time.monotonic()
    return _measurement(target, sizes, report, built - started, finished - built)


def _run_firmware(workdir: Path, elf: Path, core: EmulatedCore, timeout_s: float) -> dict[str, str]:
    command = [
        QEMU,
        "-M",
        core.machine,
        "-nographic",
        "-monitor",
        "none",
        "-icount",
        "shift=0",
        "-semihosting-config",
        "enable=on,target=native",
        "-kernel",
        elf.name,
    ]
    try:
        result = subprocess.run(
            command,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stdout) + _text(exc.stderr)
        raise FirmwareError(
            f"the program did not finish within {timeout_s:g} s on {core.machine}",
            program_output=output[-2000:],
        ) from None
    output = result.stdout + result.stderr
    if result.returncode != 0:
        if result.returncode in _EXIT_REASONS:
            message = f"the program failed on {core.machine}: {_EXIT_REASONS[result.returncode]}"
        else:
            message = f"QEMU ({core.machine}) exited with status {result.returncode}"
        raise FirmwareError(message, program_output=output[-2000:])
    return _parse_report(output)


def _text(stream: str | bytes | None) -> str:
    if isinstance(stream, bytes):
        return stream.decode(errors="replace")
    return stream or ""


def _parse_report(output: str) -> dict[str, str]:
    report = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0] == "TML":
            report[fields[1]] = fields[2]
    missing = {"output", "ticks_high", "ticks_low", "ticks_empty", "stack"} - set(report)
    if missing:
        raise FirmwareError(
            "the program's report lacks " + ", ".join(sorted(missing)),
            program_output=output[-2000:],
        )
    return report


def _measurement(
    core: EmulatedCore,
    sizes: FirmwareSizes,
    report: dict[str, str],
    build_seconds: float,
    run_seconds: float,
) -> Measurement:
    ticks = (int(report["ticks_high"], 16) << 32) + int(report["ticks_low"], 16)
    ticks -= int(report["ticks_empty"], 16)
    nanoseconds_per_tick = 1e9 / core.systick_hz
    flash = sizes.model_flash_bytes
    return Measurement(
        core=core.name,
        machine=core.machine,
        flash_bytes=flash,
        weights_bytes=sizes.weights_bytes,
        qparams_bytes=sizes.qparams_bytes,
        code_bytes=flash - sizes.weights_bytes - sizes.qparams_bytes,
        ram_bytes=sizes.model_ram_bytes,
        stack_bytes=int(report["stack"], 16),
        instructions=round(ticks * nanoseconds_per_tick),
        instructions_resolution=round(nanoseconds_per_tick),
        output=bytes.fromhex(report["output"]),
        firmware_flash_bytes=sizes.flash_bytes,
        firmware_ram_bytes=sizes.ram_bytes,
        toolchain=toolchain(),
        build_seconds=build_seconds,
        run_seconds=run_seconds,
    )


@functools.cache
def toolchain() -> Toolchain:
    """The cross compiler's and QEMU's versions (read once per process)."""
    gcc = subprocess.run([GCC, "-dumpversion"], capture_output=True, text=True, check=True)
    qemu = subprocess.run([QEMU, "--version"], capture_output=True, text=True, check=True)
    return Toolchain(gcc=gcc.stdout.strip(), qemu=qemu.stdout.splitlines()[0].strip())
