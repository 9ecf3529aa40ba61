"""The compiling job (worker side): convert, verify in TFLite-Micro, measure, package."""

from __future__ import annotations

import dataclasses
import io
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.compiling import c_engine, litert, repository, tflm
from tinymlaas.compiling.manifest import (
    CompiledArtifacts,
    CompileTarget,
    DatasetFacts,
    ModelFacts,
    tensor_dict,
)
from tinymlaas.compiling.package import CONTENT_TYPES, board_fit, package
from tinymlaas.contracts import Activation, Engine, Quantization, TrainingInfo
from tinymlaas.db.base import utcnow
from tinymlaas.engine.codegen import GeneratedLibrary
from tinymlaas.hardware.boards import Board, get_board
from tinymlaas.jobs.context import JobContext
from tinymlaas.models import CompiledFile, CompiledModel, Dataset, TrainedModel
from tinymlaas.training.data import Split, load_images
from tinymlaas.training.scoring import predict

REPRESENTATIVE_IMAGES = 300


@dataclass(frozen=True)
class _Inputs:
    """What the job reads from the database before TensorFlow is imported."""

    compiled_id: int
    board: Board
    quantization: Quantization
    engine: Engine
    model: ModelFacts
    dataset: DatasetFacts
    classes: list[str]
    # The .keras to convert; None for an imported .tflite, which is used as it is.
    keras_bytes: bytes | None
    tflite_bytes: bytes | None
    representative: Split
    held_out: Split


def run(ctx: JobContext) -> None:
    """Build the compiled model row that belongs to this job."""
    inputs = _load_inputs(ctx)
    if inputs.keras_bytes is not None and len(inputs.representative) == 0:
        raise ValueError("no training images left in the dataset to calibrate the quantization")
    ctx.raise_if_cancelled()

    keras_model = None
    if inputs.keras_bytes is not None:
        ctx.progress(0.2, f"converting to {inputs.quantization} TensorFlow Lite")
        keras_model = _load_keras(inputs.keras_bytes)
    artifacts = _convert(ctx, keras_model, inputs)
    # Generated before evaluating, so an operator the C engine lacks fails the job at once.
    library = c_engine.generate(artifacts.tflite) if inputs.engine == "c" else None
    ctx.progress(0.6, f"evaluating on {len(inputs.held_out)} held-out images")
    tflm_scores = _tflm_scores(artifacts, inputs.held_out.x)
    accuracy = _accuracies(keras_model, artifacts, inputs.held_out, tflm_scores)
    c_result = None
    if library is not None:
        ctx.progress(0.7, "checking the generated C against TFLite-Micro, image by image")
        c_result = _check_c(artifacts, library, inputs, tflm_scores)
        accuracy["c"] = None if not len(inputs.held_out) else _accuracy(c_result.scores, inputs)
    verdict = board_fit(inputs.board, inputs.model.training, artifacts, c_result)
    ctx.progress(0.85, "packaging")
    files = _package(inputs, dataclasses.replace(artifacts, c_library=library))

    def store(session: Session) -> None:
        row = session.get_one(CompiledModel, inputs.compiled_id)
        blobs = DatabaseBlobStore(session)
        for name, data in files.items():
            blob = blobs.put(data)
            session.add(
                CompiledFile(
                    compiled_id=inputs.compiled_id,
                    name=name,
                    content_type=CONTENT_TYPES[name],
                    size_bytes=blob.size_bytes,
                    sha256=blob.sha256,
                )
            )
        row.tflite_bytes = len(artifacts.tflite)
        row.arena_bytes = artifacts.arena_bytes
        row.flash_estimate_bytes = verdict.flash_bytes
        row.ram_estimate_bytes = verdict.ram_bytes
        row.fits = verdict.fits
        row.fit_detail = verdict.detail
        row.accuracy = accuracy
        row.input = tensor_dict(artifacts.input)
        row.output = tensor_dict(artifacts.output)
        if c_result is not None:
            row.activation = Activation(
                peak_bytes=c_result.library.peak_bytes,
                floor_bytes=c_result.library.floor_bytes,
                in_place_saved_bytes=c_result.library.in_place_saved_bytes,
            )
            row.measured = c_result.measured

    ctx.store(store)


def _package(inputs: _Inputs, artifacts: CompiledArtifacts) -> dict[str, bytes]:
    from tinymlaas.compiling import tflite

    target = CompileTarget(
        inputs.compiled_id, inputs.board.id, inputs.quantization, utcnow(), inputs.engine
    )
    versions = {**tflite.tensorflow_versions(), "tflite_micro": tflm.tflm_version()}
    return package(
        target, inputs.board, inputs.model, inputs.dataset, inputs.classes, artifacts, versions
    )


def _load_inputs(ctx: JobContext) -> _Inputs:
    """The job's rows, the trained weights and the calibration and held-out images."""
    with ctx.factory() as session:
        compiled = repository.get_by_job(session, ctx.job_id)
        if compiled is None:
            raise LookupError(f"no compiled model belongs to job {ctx.job_id}")
        model = session.get_one(TrainedModel, compiled.model_id)
        if model.keras_sha256 is None and model.tflite_sha256 is None:
            raise LookupError(f"model {model.id} has no trained weights")
        blobs = DatabaseBlobStore(session)
        config, classes = model.config, list(model.classes)
        info = model.training_info or TrainingInfo()
        dataset = session.get(Dataset, model.dataset_id) if model.dataset_id else None
        ctx.progress(0.05, "loading images")
        shape = (config.input_width, config.input_height, config.color_mode)
        sample = _sample(list(info.train_image_ids), config.seed)
        version = model.dataset_version_id  # the images exactly as training read them
        return _Inputs(
            compiled_id=compiled.id,
            board=get_board(compiled.board),
            quantization=compiled.quantization,
            engine=compiled.engine,
            model=ModelFacts(
                id=model.id,
                name=model.name,
                architecture=config.architecture,
                alpha=config.alpha,
                training=config,
                parameter_count=model.parameter_count,
                keras_sha256=model.keras_sha256,
            ),
            dataset=DatasetFacts(
                id=model.dataset_id,
                name=dataset.name if dataset else None,
                content_sha256=info.dataset_content_sha256,
                version=model.dataset_version,
            ),
            classes=classes,
            keras_bytes=blobs.get(model.keras_sha256) if model.keras_sha256 else None,
            tflite_bytes=blobs.get(model.tflite_sha256) if model.tflite_sha256 else None,
            representative=load_images(session, sample, classes, *shape, version),
            held_out=load_images(session, list(info.held_out_image_ids), classes, *shape, version),
        )


def _convert(ctx: JobContext, keras_model: Any, inputs: _Inputs) -> CompiledArtifacts:
    """Convert to .tflite (an imported one is taken as it is), then measure its arena in
    TFLite-Micro and describe its tensors."""
    from tinymlaas.compiling import tflite

    if inputs.tflite_bytes is not None:
        tflite_model = inputs.tflite_bytes
    else:
        tflite_model = tflite.convert(keras_model, inputs.quantization, inputs.representative.x)
    ctx.raise_if_cancelled()
    ctx.progress(0.5, "measuring the tensor arena in TFLite-Micro")
    arena = tflm.measure_arena(tflite_model).arena_bytes
    input_info, output_info = litert.describe(tflite_model)
    return CompiledArtifacts(tflite_model, input_info, output_info, arena)


def _sample(ids: list[int], seed: int) -> list[int]:
    """Up to REPRESENTATIVE_IMAGES training images, drawn across the whole set."""
    if len(ids) <= REPRESENTATIVE_IMAGES:
        return list(ids)
    chosen = np.random.default_rng(seed).choice(len(ids), REPRESENTATIVE_IMAGES, replace=False)
    return sorted(ids[i] for i in chosen)


def _load_keras(data: bytes) -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from keras.src.saving import saving_lib

    return saving_lib.load_model(io.BytesIO(data), compile=False)


def _tflm_scores(artifacts: CompiledArtifacts, pixels: np.ndarray) -> np.ndarray | None:
    """TFLite-Micro's raw output values (int8 for an int8 model) for the held-out images."""
    if len(pixels) == 0:
        return None
    runner = tflm.MicroRunner(artifacts.tflite, arena_bytes=artifacts.arena_bytes)
    return runner.predict_raw(pixels)


def _check_c(
    artifacts: CompiledArtifacts,
    library: GeneratedLibrary,
    inputs: _Inputs,
    tflm_scores: np.ndarray | None,
) -> c_engine.CEngineResult:
    """The generated C on the held-out images (random ones without a dataset), byte for byte
    against TFLite-Micro."""
    pixels, ids = inputs.held_out.x, list(inputs.held_out.ids)
    if tflm_scores is None:
        pixels, ids = c_engine.random_pixels(library), []
        tflm_scores = _tflm_scores(artifacts, pixels)
    assert tflm_scores is not None
    result = c_engine.build(artifacts.tflite, library, pixels, tflm_scores, inputs.board, ids)
    if not len(inputs.held_out):
        return c_engine.CEngineResult(library, None, result.measured)
    return result


def _accuracy(scores: np.ndarray | None, inputs: _Inputs) -> float | None:
    if scores is None:
        return None
    top = np.argmax(scores.reshape(len(scores), -1), axis=1)
    return round(float(np.mean(top == inputs.held_out.y)), 6)


def _accuracies(
    keras_model: Any,
    artifacts: CompiledArtifacts,
    held_out: Split,
    tflm_scores: np.ndarray | None,
) -> dict[str, Any]:
    """Float Keras, LiteRT and TFLite-Micro accuracy on the same held-out images.

    Without images (an imported model with no dataset) every figure is None; an imported
    .tflite has no float model, so its "float" is None.
    """
    if len(held_out) == 0 or tflm_scores is None:
        return {"float": None, "int8": None, "tflm": None, "images": 0}

    def accuracy(scores: np.ndarray) -> float:
        return round(float(np.mean(np.argmax(scores, axis=1) == held_out.y)), 6)

    return {
        "float": None if keras_model is None else accuracy(predict(keras_model, held_out.x)),
        "int8": accuracy(litert.predict(artifacts.tflite, held_out.x)),
        # argmax of the raw values is that of the dequantized scores (a positive scale)
        "tflm": accuracy(tflm_scores),
        "images": len(held_out),
    }
