"""The packaging stage of a compile job, from its value objects alone (no TensorFlow)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime

import pytest
from PIL import Image

from tinymlaas.compiling.manifest import (
    CompiledArtifacts,
    CompileTarget,
    DatasetFacts,
    DeviceManifest,
    Manifest,
    ModelFacts,
)
from tinymlaas.compiling.package import (
    CONTENT_TYPES,
    board_fit,
    input_bytes,
    library_name,
    package,
)
from tinymlaas.compiling.quantize import TensorInfo
from tinymlaas.contracts import TrainingConfig
from tinymlaas.hardware.boards import get_board
from tinymlaas.training import preprocess
from tinymlaas.training.preprocess import to_pixels

TFLITE = bytes(range(256)) * 8  # conversion is not under test: any bytes stand for the model
CONFIG = TrainingConfig(architecture="cnn-small", alpha=0.5, input_width=32, input_height=24)
CLASSES = ["daisy", "rose", "tulip"]
CREATED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def artifacts(quantized: bool = True, config: TrainingConfig = CONFIG) -> CompiledArtifacts:
    shape = (1, config.input_height, config.input_width, config.channels)
    if quantized:
        return CompiledArtifacts(
            TFLITE,
            TensorInfo(shape, "int8", 1.0, -128),
            TensorInfo((1, len(CLASSES)), "int8", 1 / 256, -128),
            12_345,
        )
    return CompiledArtifacts(
        TFLITE,
        TensorInfo(shape, "float32", 0.0, 0),
        TensorInfo((1, len(CLASSES)), "float32", 0.0, 0),
        23_456,
    )


def files_of(quantized: bool = True, name: str = "my flowers!") -> dict[str, bytes]:
    quantization = "int8" if quantized else "float32"
    return package(
        CompileTarget(42, "nano33ble", quantization, CREATED),
        get_board("nano33ble"),
        ModelFacts(
            id=7, name=name, architecture="cnn-small", alpha=0.5, training=CONFIG, keras_sha256="k"
        ),
        DatasetFacts(id=3, name="flowers", content_sha256="d" * 64, version=2),
        CLASSES,
        artifacts(quantized),
        {"tensorflow": "2.x"},
    )


def library(files: dict[str, bytes]) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(files["arduino_library.zip"]))


def test_every_file_is_packaged_with_a_content_type() -> None:
    files = files_of()
    # c_library.zip comes with engine "c" only (test_c_engine_job.py)
    assert sorted(files) == sorted(set(CONTENT_TYPES) - {"c_library.zip"})
    assert files["model.tflite"] == TFLITE
    assert b"model_data" in files["model_data.cc"]


def test_the_manifest_lists_the_model_files_and_how_to_feed_the_model() -> None:
    files = files_of()
    manifest = json.loads(files["manifest.json"])

    assert files["manifest.json"].decode() == json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    assert sorted(manifest["files"]) == ["model.tflite", "model_data.cc", "model_data.h"]
    for name, facts in manifest["files"].items():
        assert facts == {
            "sha256": hashlib.sha256(files[name]).hexdigest(),
            "size_bytes": len(files[name]),
        }
    assert manifest["created_at"] == "2026-03-04T05:06:07+00:00"
    assert (manifest["compiled_id"], manifest["board"], manifest["quantization"]) == (
        42,
        "nano33ble",
        "int8",
    )
    assert manifest["classes"] == CLASSES
    assert manifest["input"] == {
        "shape": [1, 24, 32, 1],
        "dtype": "int8",
        "scale": 1.0,
        "zero_point": -128,
    }
    assert manifest["preprocessing"]["color_mode"] == "grayscale"
    assert manifest["tensor_arena_bytes_measured"] == 12_345
    assert manifest["model"]["training"] == CONFIG.model_dump(mode="json")
    assert manifest["dataset"] == {
        "id": 3,
        "name": "flowers",
        "content_sha256": "d" * 64,
        "version": 2,
    }
    assert manifest["versions"]["tensorflow"] == "2.x"
    assert "tinymlaas" in manifest["versions"]
    # What the stage wrote reads back as the contract, and a device reads its part of it.
    assert Manifest.model_validate(manifest).model.training == CONFIG
    assert DeviceManifest.model_validate(manifest).input.shape == [1, 24, 32, 1]


def test_the_manifest_describes_the_preprocessing_training_and_the_sketch_do() -> None:
    steps = json.loads(files_of()["manifest.json"])["preprocessing"]

    assert "nearest-neighbour sampling" in steps["resize"]
    assert "bilinear" not in json.dumps(steps)
    assert "(2x + 1) * crop_width // (2 * width)" in steps["resize"]
    assert steps["grayscale"] == "(19595 R + 38470 G + 7471 B + 32768) >> 16 (ITU-R 601 luma)"
    assert steps["quantize"].startswith("int8: q = clamp(floor(pixel / input.scale + 0.5)")
    assert "-128, 127" in steps["quantize"]
    float_steps = json.loads(files_of(quantized=False)["manifest.json"])["preprocessing"]
    assert float_steps["quantize"] == "none: the float32 input takes the pixel values as they are"


def test_the_manifest_text_follows_the_constants_the_preprocessing_runs_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    red = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 0, 0)).save(red, "PNG")
    before = json.loads(files_of()["manifest.json"])["preprocessing"]
    gray_before = to_pixels(red.getvalue(), 4, 4, "grayscale")[0, 0, 0]

    monkeypatch.setattr(preprocess, "LUMA_WEIGHTS", (65536 - 2, 1, 1))
    monkeypatch.setattr(preprocess, "BOX_REDUCE_MIN_RATIO", 8)
    after = json.loads(files_of()["manifest.json"])["preprocessing"]

    assert after["grayscale"] == "(65534 R + 1 G + 1 B + 32768) >> 16 (ITU-R 601 luma)"
    assert after["grayscale"] != before["grayscale"]
    assert "at least 8x the input size" in after["resize"]
    assert "at least 4x the input size" in before["resize"]
    # The same constant changes what training feeds the model.
    assert (gray_before, to_pixels(red.getvalue(), 4, 4, "grayscale")[0, 0, 0]) == (60, 200)


def test_the_library_embeds_the_manifest_and_announces_its_sha256() -> None:
    files = files_of()
    model_id = hashlib.sha256(files["manifest.json"]).hexdigest()
    name = "TinyMLaaS_my_flowers_42"
    archive = library(files)

    assert archive.read(f"{name}/extras/manifest.json") == files["manifest.json"]
    header = archive.read(f"{name}/src/{name}.h").decode()
    assert f'constexpr char kModelId[] = "{model_id}";' in header
    assert "constexpr bool kInt8 = true;" in header


def test_a_float32_model_is_packaged_as_float() -> None:
    files = files_of(quantized=False)
    manifest = json.loads(files["manifest.json"])
    assert manifest["quantization"] == "float32"
    assert manifest["input"]["dtype"] == "float32"
    readme = library(files).read("TinyMLaaS_my_flowers_42/README.md").decode()
    assert "float32 input and output" in readme
    header = library(files).read("TinyMLaaS_my_flowers_42/src/TinyMLaaS_my_flowers_42.h")
    assert b"constexpr bool kInt8 = false;" in header


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("flowers", "TinyMLaaS_flowers_5"),
        ("my flowers!", "TinyMLaaS_my_flowers_5"),
        ("3 cats", "TinyMLaaS_m_3_cats_5"),
        ("???", "TinyMLaaS_model_5"),
        ("x" * 80, "TinyMLaaS_" + "x" * 50),
    ],
)
def test_library_names_are_valid_arduino_names(name: str, expected: str) -> None:
    assert library_name(name, 5) == expected


def test_input_bytes_and_fit_follow_the_colour_mode_and_quantization() -> None:
    rgb = CONFIG.model_copy(update={"color_mode": "rgb"})
    assert input_bytes(CONFIG, artifacts(True)) == 32 * 24
    assert input_bytes(rgb, artifacts(False, rgb)) == 32 * 24 * 3 * 4

    verdict = board_fit(get_board("nano33ble"), CONFIG, artifacts(True))
    assert verdict.fits
    assert verdict.flash_bytes > len(TFLITE)
    assert verdict.ram_bytes > 12_345
