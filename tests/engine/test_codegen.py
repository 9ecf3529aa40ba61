"""The generated library: its fixed API, warning-free C99, and the memory figures."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tinymlaas.engine.codegen import HEADER_NAME, SOURCE_NAME, generate

pytestmark = pytest.mark.slow
STRICT_FLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def _write(files: dict[str, str], directory: Path) -> list[str]:
    for name, text in files.items():
        (directory / name).write_text(text)
    return sorted(name for name in files if name.endswith(".c"))


def test_header_is_the_fixed_api(cnn_small_gray: bytes) -> None:
    library = generate(cnn_small_gray)
    header = library.files[HEADER_NAME]
    assert "#define TML_INPUT_SIZE 1024\n" in header
    assert "#define TML_OUTPUT_SIZE 3\n" in header
    assert "int tml_invoke(const int8_t *input, int8_t *output);" in header
    assert (library.input_size, library.output_size) == (1024, 3)
    assert library.input_shape == (1, 32, 32, 1)
    assert library.input_quantization.zero_point == -128
    assert library.operators == ("CONV_2D", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX")


def test_sources_compile_warning_free(cnn_small_gray: bytes, tmp_path: Path) -> None:
    sources = _write(generate(cnn_small_gray).files, tmp_path)
    # The promise: every .c at the top level builds with nothing but this command.
    subprocess.run(["cc", "-std=c99", "-O2", "-c", *sources], cwd=tmp_path, check=True)
    result = subprocess.run(
        ["cc", *STRICT_FLAGS, "-c", *sources], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no ARM cross compiler")
def test_sources_compile_for_cortex_m4(cnn_small_gray: bytes, tmp_path: Path) -> None:
    sources = _write(generate(cnn_small_gray).files, tmp_path)
    flags = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-fdata-sections"]
    result = subprocess.run(
        ["arm-none-eabi-gcc", *STRICT_FLAGS, *flags, "-c", *sources],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # With -fdata-sections every weight array has its own named section a linker map shows.
    sections = subprocess.run(
        ["arm-none-eabi-objdump", "-h", "tinymlaas_model.o"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert re.search(r"\.rodata\.tml_weight_\d+", sections)
    assert ".bss.tml_arena" in sections


def test_no_allocation_and_prefixed_names(cnn_small_gray: bytes, tmp_path: Path) -> None:
    files = generate(cnn_small_gray).files
    for name, text in files.items():
        assert "malloc" not in text, name
        assert "#include <stdlib.h>" not in text, name
    sources = _write(files, tmp_path)
    subprocess.run(["cc", "-std=c99", "-O2", "-c", *sources], cwd=tmp_path, check=True)
    objects = [source.replace(".c", ".o") for source in sources]
    symbols = subprocess.run(
        ["nm", "--defined-only", "-g", *objects], cwd=tmp_path, capture_output=True, text=True
    ).stdout
    exported = [line.split()[-1] for line in symbols.splitlines() if len(line.split()) == 3]
    assert exported
    assert all(symbol.startswith("tml_") for symbol in exported)
    assert "tml_invoke" in exported
    assert "tml_weight_" in files[SOURCE_NAME]
