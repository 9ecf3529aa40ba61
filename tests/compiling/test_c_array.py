import os
import random
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tinymlaas.compiling.c_array import to_c_array

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")

DUMP_MAIN = """
#include <cstdio>
#include "model_data.h"
int main() {
  std::fwrite(g_model, 1, g_model_len, stdout);
  return (reinterpret_cast<unsigned long>(g_model) % 16 == 0) ? 0 : 3;
}
"""


def compile_and_dump(model: bytes, directory: Path) -> bytes:
    """Compile the generated pair with a main that writes g_model; return what it writes."""
    header, source = to_c_array(model)
    (directory / "model_data.h").write_text(header)
    (directory / "model_data.cc").write_text(source)
    (directory / "main.cc").write_text(DUMP_MAIN)
    for name in ("model_data", "main"):
        subprocess.run(
            ["g++", "-std=c++17", "-Wall", "-Werror", "-c", f"{name}.cc", "-o", f"{name}.o"],
            cwd=directory,
            check=True,
        )
    subprocess.run(["g++", "model_data.o", "main.o", "-o", "dump"], cwd=directory, check=True)
    return subprocess.run([str(directory / "dump")], capture_output=True, check=True).stdout


@pytest.mark.parametrize("size", [1, 1001, 700 * 1024 + 7])
def test_compiled_array_equals_the_model(size: int, tmp_path: Path) -> None:
    model = random.Random(size).randbytes(size)

    assert compile_and_dump(model, tmp_path) == model


def test_source_layout() -> None:
    header, source = to_c_array(bytes(range(14)), "g_person")

    assert "#ifndef" in header
    assert "extern const unsigned char g_person[];" in header
    assert "extern const unsigned int g_person_len;" in header
    assert source.startswith("// Generated")
    assert '#include "model_data.h"' in source
    assert "alignas(16) const unsigned char g_person[] = {\n" in source
    assert "    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,\n" in source
    assert "    0x0c, 0x0d,\n};\n" in source
    assert source.endswith("const unsigned int g_person_len = 14;\n")


@pytest.mark.parametrize("variable", ["", "1model", "g-model", "g model", "__x", "_Model"])
def test_rejects_names_that_are_not_c_identifiers(variable: str) -> None:
    with pytest.raises(ValueError, match="not a usable C identifier"):
        to_c_array(b"\x00", variable)


def test_rejects_an_empty_model() -> None:
    with pytest.raises(ValueError, match="empty"):
        to_c_array(b"")


def test_one_mebibyte_is_fast() -> None:
    model = os.urandom(2**20)

    started = time.perf_counter()
    to_c_array(model)

    # Measured ~0.3 s; the bound leaves room for a loaded CI machine.
    assert time.perf_counter() - started < 1.0
