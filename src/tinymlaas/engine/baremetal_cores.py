"""The cores the bare-metal measurement builds for: compiler flags, the QEMU machine that
emulates each, where that machine keeps its memories, and a cycles-per-instruction factor.

QEMU counts instructions, not cycles (it does not model pipelines, wait states or the DWT
cycle counter). A latency is therefore an estimate: instructions x CPI / clock. The CPI
factors are assumptions, not measurements. Their source: a Cortex-M4 runs most ALU and MAC
instructions in one cycle, loads in one or two and taken branches in two to four (Arm
Cortex-M4 TRM, instruction timings), so an int8 multiply-accumulate loop averages about
1.1-1.3 cycles per instruction; we take 1.2. The other cores are scaled from it by Arm's
published CoreMark/MHz (M4 3.40, M7 5.01, M33 4.02, M55 4.2) on the assumption that they run
the same instruction stream: M7 0.8 (dual issue), M33 1.0, M55 1.0. Flash wait states and
caches on a real board move these by tens of percent.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinymlaas.hardware.boards import CoreName

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True)
class EmulatedCore:
    """A core with a QEMU machine: how to build for it and where its memories live."""

    name: CoreName
    machine: str
    # arm-none-eabi-gcc flags besides -O2 -mthumb.
    cpu_flags: tuple[str, ...]
    flash_origin: int
    flash_limit_bytes: int
    ram_origin: int
    ram_limit_bytes: int
    # The frequency SysTick counts at on this machine (its system clock): under
    # `-icount shift=0` one instruction takes 1 ns of virtual time, so one tick is
    # 1e9 / systick_hz instructions.
    systick_hz: int
    cycles_per_instruction: float


EMULATED_CORES: dict[str, EmulatedCore] = {
    core.name: core
    for core in (
        EmulatedCore(
            name="cortex-m4f",
            machine="mps2-an386",
            cpu_flags=("-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
            flash_origin=0x0000_0000,
            flash_limit_bytes=4 * MiB,
            ram_origin=0x2000_0000,
            ram_limit_bytes=4 * MiB,
            systick_hz=25_000_000,
            cycles_per_instruction=1.2,
        ),
        EmulatedCore(
            name="cortex-m7",
            machine="mps2-an500",
            cpu_flags=("-mcpu=cortex-m7", "-mfloat-abi=hard", "-mfpu=fpv5-d16"),
            flash_origin=0x0000_0000,
            flash_limit_bytes=4 * MiB,
            ram_origin=0x2000_0000,
            ram_limit_bytes=4 * MiB,
            systick_hz=25_000_000,
            cycles_per_instruction=0.8,
        ),
        EmulatedCore(
            name="cortex-m33",
            machine="mps2-an505",
            cpu_flags=("-mcpu=cortex-m33", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"),
            # The secure aliases of SSRAM1 (code) and SSRAM2/3: the core boots secure.
            flash_origin=0x1000_0000,
            flash_limit_bytes=4 * MiB,
            ram_origin=0x3800_0000,
            ram_limit_bytes=4 * MiB,
            systick_hz=20_000_000,
            cycles_per_instruction=1.0,
        ),
        EmulatedCore(
            name="cortex-m55",
            machine="mps3-an547",
            # -mcpu=cortex-m55 implies its FPU and the MVE (Helium) vector extension.
            cpu_flags=("-mcpu=cortex-m55", "-mfloat-abi=hard"),
            # ITCM holds the vector table the core boots from; code and data stay in it.
            flash_origin=0x0000_0000,
            flash_limit_bytes=512 * KiB,
            ram_origin=0x2100_0000,
            ram_limit_bytes=2 * MiB,
            systick_hz=32_000_000,
            cycles_per_instruction=1.0,
        ),
    )
}

# Cores of catalog boards that no QEMU machine here emulates, and why.
UNMEASURED_CORES: dict[str, str] = {
    "cortex-m0plus": "QEMU has no Cortex-M0+ machine (the RP2040 is not emulated)",
    "xtensa-lx6": "the ESP32's Xtensa cores have no ARM emulator (qemu-system-arm)",
    "xtensa-lx7": "the ESP32-S3's Xtensa cores have no ARM emulator (qemu-system-arm)",
    "host": "a virtual device runs on the host: there is no board core to emulate",
}


def latency_ms_estimate(instructions: int, core: EmulatedCore, clock_mhz: int) -> float:
    """Estimate one inference's latency: instructions x the core's assumed CPI / its clock."""
    return instructions * core.cycles_per_instruction / (clock_mhz * 1000.0)
