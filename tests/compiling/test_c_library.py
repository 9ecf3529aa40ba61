"""c_library.zip: the generated C builds with a plain C99 compiler, and its example prints the
very scores the host build of the same sources gives."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tinymlaas.compiling.c_library import build_c_library
from tinymlaas.compiling.manifest import Preprocessing
from tinymlaas.compiling.quantize import TensorInfo
from tinymlaas.engine import codegen, host

from support.engine_models import build_int8_model, pattern_images

CLASSES = ["top", "left", "dark"]

# Converting the model imports TensorFlow (a few seconds).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def int8_model() -> bytes:
    """cnn-small at 24×24 grayscale, int8, as the compile job converts it."""
    return build_int8_model("cnn-small", 0.5, 24, 1)


def run(command: list[str], directory: Path) -> str:
    result = subprocess.run(command, cwd=directory, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def unzip(int8_model: bytes, directory: Path) -> codegen.GeneratedLibrary:
    library = codegen.generate(int8_model)
    shape = library.input_shape
    tensor = TensorInfo(
        shape, "int8", library.input_quantization.scale, library.input_quantization.zero_point
    )
    data = build_c_library(
        library, "TinyMLaaS_test_1", CLASSES, Preprocessing.of("grayscale", tensor), "{}\n"
    )
    zipfile.ZipFile(io.BytesIO(data)).extractall(directory)
    return library


def test_the_zip_compiles_with_cc_and_its_example_prints_the_host_scores(
    int8_model: bytes, tmp_path: Path
) -> None:
    library = unzip(int8_model, tmp_path)
    top = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert {"tinymlaas_model.h", "tinymlaas_model.c", "Makefile", "README.md"} <= set(top)
    readme = (tmp_path / "README.md").read_text()
    assert "TML_INPUT_SIZE" in readme
    assert "tml_invoke" in readme
    assert "floor(pixel /" in readme  # the manifest's quantization description

    sources = sorted(p.name for p in tmp_path.glob("*.c"))
    run(["cc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-c", *sources], tmp_path)
    objects = sorted(p.name for p in tmp_path.glob("*.o"))
    assert len(objects) == len(sources) >= 2
    run(["cc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I.", "-o", "example",
         "examples/main.c", *objects, "-lm"], tmp_path)  # fmt: skip

    pixels = pattern_images(12, 24, 1, seed=5)
    expected = host.predict(library, pixels).reshape(len(pixels), -1)
    for position, image in enumerate(pixels):
        (tmp_path / "pixels.bin").write_bytes(image.tobytes())
        printed = run(["./example", "pixels.bin"], tmp_path).splitlines()
        scores = [int(value) for value in printed[0].removeprefix("scores:").split()]
        assert scores == expected[position].tolist()
        best = int(np.argmax(expected[position]))
        assert printed[1] == f"top: {best} {CLASSES[best]}"


def test_the_makefile_builds_the_static_library_and_the_example(
    int8_model: bytes, tmp_path: Path
) -> None:
    unzip(int8_model, tmp_path)
    run(["make", "example"], tmp_path)
    assert (tmp_path / "libtinymlaas_model.a").stat().st_size > 1000
    assert run(["./example"], tmp_path).startswith("scores: ")
    with pytest.raises(AssertionError):
        run(["./example", "missing.bin"], tmp_path)
