"""Build a model library into a bare-metal measurement firmware, and read its sizes.

The firmware is the library's sources, the harness and startup code of `firmware/` and a
linker script with the board's real flash and RAM sizes, built with arm-none-eabi-gcc. The
library is compiled with only `-O2` and the core's flags, as a user would build it; the
harness gets `-ffreestanding` so its loops never become libc calls.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tinymlaas.engine.baremetal_cores import EmulatedCore
from tinymlaas.errors import TinyMLaaSError

GCC = "arm-none-eabi-gcc"
SIZE = "arm-none-eabi-size"
NM = "arm-none-eabi-nm"
HARNESS_SOURCES = ("tml_fw_startup.c", "tml_fw_harness.c")
WEIGHT_PREFIX = "tml_weight_"
# Per-channel requantization multipliers and shifts of the generated code.
QPARAM_PREFIX = "tml_qparam_"
_OVERFLOW = re.compile(r"region [`'](\w+)' overflowed by (\d+) bytes")
_INPUT_SECTION = re.compile(
    r"^(?: (?P<name>\.\S+))?\s+0x[0-9a-f]+\s+0x(?P<size>[0-9a-f]+)\s+(?P<file>\S.*)$"
)
_FLASH_SECTIONS = (".text", ".rodata", ".ARM.extab", ".ARM.exidx", ".data")
_RAM_SECTIONS = (".data", ".bss")


class FirmwareError(TinyMLaaSError):
    """The measurement firmware could not be built or run; `detail` says why."""

    status_code = 422


class FirmwareDoesNotFit(FirmwareError):
    """The program overflows the board's flash or RAM (a link error)."""


@dataclass(frozen=True)
class FirmwareSizes:
    """Sizes of the linked program, and the part of them the model library accounts for."""

    flash_bytes: int
    ram_bytes: int
    weights_bytes: int
    qparams_bytes: int
    model_flash_bytes: int
    model_ram_bytes: int


def write_sources(
    workdir: Path, sources: Mapping[str, str | bytes], input_bytes: bytes
) -> list[str]:
    """Write the library, the harness and the embedded input into `workdir`; return the
    library's `.c` file names."""
    for name, text in sources.items():
        if "/" in name or "\\" in name or name.startswith(".") or name in HARNESS_SOURCES:
            raise FirmwareError(f"library file name {name!r} is not a plain top-level name")
        data = text.encode() if isinstance(text, str) else text
        (workdir / name).write_bytes(data)
    if "tinymlaas_model.h" not in sources:
        raise FirmwareError("the library has no tinymlaas_model.h")
    templates = resources.files("tinymlaas.engine") / "firmware"
    for name in HARNESS_SOURCES:
        (workdir / name).write_text(templates.joinpath(name).read_text())
    values = ",".join(str(byte - 256 if byte > 127 else byte) for byte in input_bytes)
    (workdir / "tml_fw_input.h").write_text(
        f"static const int8_t tml_fw_input[] = {{{values}}};\n"
        "typedef char tml_fw_input_size_check"
        "[sizeof tml_fw_input == TML_INPUT_SIZE ? 1 : -1];\n"
    )
    return sorted(name for name in sources if name.endswith(".c"))


def write_linker_script(
    workdir: Path, core: EmulatedCore, flash_bytes: int, ram_bytes: int, min_stack_bytes: int
) -> Path:
    """Fill the linker script template with the board's sizes at the machine's addresses."""
    for what, wanted, limit in (
        ("flash", flash_bytes, core.flash_limit_bytes),
        ("RAM", ram_bytes, core.ram_limit_bytes),
    ):
        if not 0 < wanted <= limit:
            raise FirmwareError(
                f"{core.machine} ({core.name}) emulates at most {limit:,} bytes of {what}; "
                f"{wanted:,} asked"
            )
    template = (resources.files("tinymlaas.engine") / "firmware" / "firmware.ld.in").read_text()
    fields = {
        "FLASH_ORIGIN": hex(core.flash_origin),
        "FLASH_BYTES": str(flash_bytes),
        "RAM_ORIGIN": hex(core.ram_origin),
        "RAM_BYTES": str(ram_bytes),
        "MIN_STACK_BYTES": str(min_stack_bytes),
    }
    for key, value in fields.items():
        template = template.replace(f"@{key}@", value)
    path = workdir / "firmware.ld"
    path.write_text(template)
    return path


def build(workdir: Path, core: EmulatedCore, library: list[str], script: Path) -> Path:
    """Compile the library and the harness, link them; return the ELF path."""
    base = [GCC, "-std=c99", "-O2", "-mthumb", *core.cpu_flags, "-I."]
    harness = [*base, "-Wall", "-Wextra", "-ffreestanding", "-fno-tree-loop-distribute-patterns"]
    jobs = [
        subprocess.Popen(
            [*flags, "-c", *names],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for flags, names in ((base, library), (harness, list(HARNESS_SOURCES)))
    ]
    for job in jobs:
        output, _ = job.communicate()
        if job.returncode != 0:
            raise FirmwareError(_compile_message(output), compiler_output=output[-4000:])
    objects = [Path(name).with_suffix(".o").name for name in [*HARNESS_SOURCES, *library]]
    elf = workdir / "firmware.elf"
    link = [
        GCC,
        *core.cpu_flags,
        "-mthumb",
        "-nostartfiles",
        "--specs=nano.specs",
        "-T",
        script.name,
        "-Wl,-Map=firmware.map",
        *objects,
        "-o",
        elf.name,
    ]
    result = subprocess.run(link, cwd=workdir, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise _link_error(result.stderr)
    return elf


def _compile_message(output: str) -> str:
    if "tml_fw_input_size_check" in output:
        return "the input has a different size from the library's TML_INPUT_SIZE"
    first_error = next((line for line in output.splitlines() if "error" in line), output[:300])
    return f"the library does not compile for the board's core: {first_error.strip()}"


def _link_error(stderr: str) -> FirmwareError:
    overflows = _OVERFLOW.findall(stderr)
    if overflows:
        parts = [f"{region} by {int(count):,} bytes" for region, count in overflows]
        return FirmwareDoesNotFit(
            "the program does not fit the board: it overflows " + " and ".join(parts),
            overflows={region: int(count) for region, count in overflows},
        )
    return FirmwareError(f"linking the firmware failed: {stderr.strip()[-1000:]}")


def read_sizes(workdir: Path, elf: Path) -> FirmwareSizes:
    """Read the program's flash and RAM from its sections, the weights from its symbols and
    the model's share from the linker map."""
    sections = _run([SIZE, "-A", "-d", elf.name], workdir)
    by_name: dict[str, int] = {}
    for line in sections.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0].startswith(".") and fields[1].isdigit():
            by_name[fields[0]] = int(fields[1])
    symbols = _run([NM, "-S", "--size-sort", elf.name], workdir)
    by_prefix = {WEIGHT_PREFIX: 0, QPARAM_PREFIX: 0}
    for fields in (line.split() for line in symbols.splitlines()):
        if len(fields) == 4:
            for prefix in by_prefix:
                if fields[3].startswith(prefix):
                    by_prefix[prefix] += int(fields[1], 16)
    model = _model_section_sizes((workdir / "firmware.map").read_text())
    model_flash = sum(model.get(name, 0) for name in _FLASH_SECTIONS)
    model_ram = sum(model.get(name, 0) for name in _RAM_SECTIONS)
    flash = sum(by_name.get(name, 0) for name in _FLASH_SECTIONS)
    ram = sum(by_name.get(name, 0) for name in _RAM_SECTIONS)
    return FirmwareSizes(
        flash_bytes=flash,
        ram_bytes=ram,
        weights_bytes=by_prefix[WEIGHT_PREFIX],
        qparams_bytes=by_prefix[QPARAM_PREFIX],
        model_flash_bytes=model_flash,
        model_ram_bytes=model_ram,
    )


def _model_section_sizes(linker_map: str) -> dict[str, int]:
    """Sum, per output section, the input sections that do not come from the harness: the
    library's objects and the libc/libgcc members it pulled in (alignment padding excluded)."""
    harness = {Path(name).with_suffix(".o").name for name in HARNESS_SOURCES}
    sizes: dict[str, int] = {}
    output_section = ""
    pending = False
    _, _, body = linker_map.partition("Linker script and memory map")
    for line in body.splitlines():
        if line.startswith("."):
            output_section = line.split()[0]
            continue
        match = _INPUT_SECTION.match(line)
        if match is None:
            pending = bool(re.fullmatch(r" \.\S+", line))
            continue
        name, size, source = match.group("name"), match.group("size"), match.group("file")
        if (name or pending) and source not in harness and source != "linker stubs":
            sizes[output_section] = sizes.get(output_section, 0) + int(size, 16)
        pending = False
    return sizes


def _run(command: list[str], workdir: Path) -> str:
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=True).stdout
