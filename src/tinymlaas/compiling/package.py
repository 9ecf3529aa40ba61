"""The files of a compiled model, from what conversion produced (pure: no TensorFlow).

model.tflite, its C array, manifest.json (whose sha256 is the model id a device announces)
and the Arduino library that embeds them all (engine "tflm"), or, for engine "c", the plain C
library of the generated model (c_library.zip) and an Arduino library of it that needs only the
board's core.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from tinymlaas.compiling.arduino import LibrarySpec, build_library
from tinymlaas.compiling.arduino_c import build_c_arduino_library
from tinymlaas.compiling.c_array import to_c_array
from tinymlaas.compiling.c_library import build_c_library
from tinymlaas.compiling.manifest import (
    CompiledArtifacts,
    CompileTarget,
    DatasetFacts,
    ModelFacts,
    Preprocessing,
    build_manifest,
)
from tinymlaas.contracts import TrainingConfig
from tinymlaas.hardware.boards import Board
from tinymlaas.hardware.footprint import FitVerdict, fit, fit_c

if TYPE_CHECKING:
    from tinymlaas.compiling.c_engine import CEngineResult

CONTENT_TYPES = {
    "model.tflite": "application/octet-stream",
    "model_data.h": "text/x-c; charset=utf-8",
    "model_data.cc": "text/x-c; charset=utf-8",
    "arduino_library.zip": "application/zip",
    "c_library.zip": "application/zip",
    "manifest.json": "application/json",
}


def library_name(name: str, compiled_id: int) -> str:
    """An Arduino library name: letters, digits and underscores, starting with a letter."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "model"
    if not cleaned[0].isalpha():
        cleaned = "m_" + cleaned
    return f"TinyMLaaS_{cleaned}_{compiled_id}"[:60]


def input_bytes(config: TrainingConfig, artifacts: CompiledArtifacts) -> int:
    """Bytes of one input image as the model takes it (int8: one a value, float32: four)."""
    bytes_per_value = 1 if artifacts.input.is_quantized else 4
    return config.input_width * config.input_height * config.channels * bytes_per_value


def board_fit(
    board: Board,
    config: TrainingConfig,
    artifacts: CompiledArtifacts,
    c_result: CEngineResult | None = None,
) -> FitVerdict:
    """Whether the compiled model should fit the board's flash and RAM (with the C engine's
    plan and measurement for engine "c")."""
    if c_result is not None:
        library = c_result.library
        return fit_c(
            board,
            weights_bytes=library.weights_bytes + library.qparams_bytes,
            activation_bytes=library.peak_bytes,
            input_bytes=input_bytes(config, artifacts),
            channels=config.channels,
            measured=c_result.measured,
        )
    return fit(
        board,
        model_bytes=len(artifacts.tflite),
        arena_bytes=artifacts.arena_bytes,
        input_bytes=input_bytes(config, artifacts),
        channels=config.channels,
    )


def library_spec(
    target: CompileTarget,
    board: Board,
    model: ModelFacts,
    classes: list[str],
    artifacts: CompiledArtifacts,
    model_id: str,
) -> LibrarySpec:
    """The Arduino library's constants for this compiled model."""
    config = model.training
    return LibrarySpec(
        library_name=library_name(model.name, target.compiled_id),
        board=board,
        labels=classes,
        input_width=config.input_width,
        input_height=config.input_height,
        channels=config.channels,
        input_scale=artifacts.input.scale,
        input_zero_point=artifacts.input.zero_point,
        output_scale=artifacts.output.scale,
        output_zero_point=artifacts.output.zero_point,
        int8=artifacts.input.is_quantized,
        arena_bytes=artifacts.arena_bytes,
        model_id=model_id,
    )


def model_files(tflite: bytes) -> dict[str, bytes]:
    """model.tflite and its C array."""
    header, source = to_c_array(tflite)
    return {
        "model.tflite": tflite,
        "model_data.h": header.encode(),
        "model_data.cc": source.encode(),
    }


def package(
    target: CompileTarget,
    board: Board,
    model: ModelFacts,
    dataset: DatasetFacts,
    classes: list[str],
    artifacts: CompiledArtifacts,
    versions: dict[str, str],
) -> dict[str, bytes]:
    """Every file of the compiled model, by name (keys of CONTENT_TYPES): the Arduino library
    (TFLite-Micro) for engine "tflm"; for engine "c", c_library.zip and the Arduino library of
    the generated C (`artifacts.c_library`)."""
    c_library = artifacts.c_library
    files = model_files(artifacts.tflite)
    manifest = build_manifest(
        target=target,
        model=model,
        dataset=dataset,
        classes=classes,
        artifacts=artifacts,
        versions=versions,
        files=files,
    ).to_json()
    model_id = hashlib.sha256(manifest.encode()).hexdigest()
    files["manifest.json"] = manifest.encode()
    spec = library_spec(target, board, model, classes, artifacts, model_id)
    if c_library is not None:
        preprocessing = Preprocessing.of(model.training.color_mode, artifacts.input)
        files["c_library.zip"] = build_c_library(
            c_library, spec.library_name, classes, preprocessing, manifest
        )
        files["arduino_library.zip"] = build_c_arduino_library(c_library, spec, manifest)
        return files
    files["arduino_library.zip"] = build_library(artifacts.tflite, spec, manifest)
    return files
