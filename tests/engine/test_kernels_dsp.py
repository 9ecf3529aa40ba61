"""The kernels' DSP-extension path (ACLE SMLAD) and portable path: both build warning-free,
and a real model gives the same bytes on DSP cores under QEMU as the portable C on the host."""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from tinymlaas.engine import host
from tinymlaas.engine.baremetal import measure
from tinymlaas.engine.codegen import generate

from support.engine_models import IMAGE_SIZE, build_int8_model, pattern_images

KERNELS = resources.files("tinymlaas.engine") / "kernels"
WARNINGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c"]
TARGETS = {
    "cortex-m4": (["arm-none-eabi-gcc", "-mthumb", "-mcpu=cortex-m4"], True),
    # The inline assembly must find its registers in a debug build with a frame pointer.
    "cortex-m4-debug": (
        ["arm-none-eabi-gcc", "-mthumb", "-mcpu=cortex-m4", "-fno-omit-frame-pointer", "-O0"],
        True,
    ),
    "cortex-m33": (["arm-none-eabi-gcc", "-mthumb", "-mcpu=cortex-m33"], True),
    "cortex-m0plus": (["arm-none-eabi-gcc", "-mthumb", "-mcpu=cortex-m0plus"], False),
    "host": (["cc"], False),
}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_kernels_build_warning_free_with_and_without_the_dsp_extension(
    tmp_path: Path, target: str
) -> None:
    command, dsp = TARGETS[target]
    if shutil.which(command[0]) is None:
        pytest.fail(f"{command[0]} is not installed")
    kernel_files = [entry for entry in KERNELS.iterdir() if entry.name.endswith((".c", ".h"))]
    for entry in kernel_files:
        (tmp_path / entry.name).write_text(entry.read_text(encoding="utf-8"))
    sources = sorted(
        str(tmp_path / entry.name) for entry in kernel_files if entry.name.endswith(".c")
    )
    assert len(sources) >= 4  # the kernels are split over several files
    # Which path the preprocessor took, besides the objects themselves.
    probe = tmp_path / "probe.c"
    probe.write_text('#include "tml_requantize.h"\nint tml_probe_dsp = TML_DSP;\n')
    for source in sources:
        subprocess.run(
            [command[0], *WARNINGS, *command[1:], source, "-o", source + ".o"], check=True
        )
    defines = subprocess.run(
        [*command, "-std=c99", "-E", "-dM", str(probe)], check=True, capture_output=True, text=True
    ).stdout
    assert ("#define TML_DSP 1" in defines) is dsp


@pytest.fixture(scope="module")
def mobilenet_32() -> bytes:
    return build_int8_model("mobilenet-v1", 0.25, IMAGE_SIZE, 1)


@pytest.mark.slow  # TensorFlow builds the model
@pytest.mark.parametrize("core", ["cortex-m4f", "cortex-m7"])
def test_dsp_path_on_the_core_gives_the_host_bytes(mobilenet_32: bytes, core: str) -> None:
    library = generate(mobilenet_32)
    pixels = pattern_images(3, IMAGE_SIZE, 1, seed=11)
    inputs = host.quantize_pixels(library, pixels)
    expected = host.predict(library, pixels).reshape(len(pixels), -1)
    outputs = [
        measure(library.files, core, 4 << 20, 4 << 20, sample.astype(np.int8).tobytes()).output
        for sample in inputs
    ]
    assert outputs == [row.tobytes() for row in expected]
    assert len({row.tobytes() for row in expected}) > 1  # the inputs tell apart
