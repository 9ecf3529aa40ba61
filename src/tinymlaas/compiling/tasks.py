"""The compiling job (worker side): convert, verify in TFLite-Micro, measure, package."""

from __future__ import annotations

import hashlib
import io
import os
import re
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.compiling import arduino, litert, repository, tflm
from tinymlaas.compiling.c_array import to_c_array
from tinymlaas.compiling.manifest import build_manifest, tensor_dict
from tinymlaas.db.base import utcnow
from tinymlaas.hardware.boards import get_board
from tinymlaas.hardware.footprint import fit
from tinymlaas.jobs.context import JobContext
from tinymlaas.models import CompiledFile, CompiledModel, Dataset, TrainedModel
from tinymlaas.training.data import Split, load_images
from tinymlaas.training.scoring import predict

REPRESENTATIVE_IMAGES = 300
CONTENT_TYPES = {
    "model.tflite": "application/octet-stream",
    "model_data.h": "text/x-c; charset=utf-8",
    "model_data.cc": "text/x-c; charset=utf-8",
    "arduino_library.zip": "application/zip",
    "manifest.json": "application/json",
}


def run(ctx: JobContext) -> None:
    """Build the compiled model row that belongs to this job."""
    with ctx.factory() as session:
        compiled = repository.get_by_job(session, ctx.job_id)
        if compiled is None:
            raise LookupError(f"no compiled model belongs to job {ctx.job_id}")
        model = session.get_one(TrainedModel, compiled.model_id)
        if model.keras_sha256 is None:
            raise LookupError(f"model {model.id} has no trained weights")
        compiled_id, board = compiled.id, get_board(compiled.board)
        quantization = compiled.quantization
        config, classes = dict(model.config), list(model.classes)
        info = dict(model.training_info or {})
        keras_bytes = DatabaseBlobStore(session).get(model.keras_sha256)
        model_facts = {
            "id": model.id,
            "name": model.name,
            "architecture": config["architecture"],
            "alpha": config["alpha"],
            "training": config,
            "parameter_count": model.parameter_count,
            "keras_sha256": model.keras_sha256,
        }
        dataset = session.get(Dataset, model.dataset_id) if model.dataset_id else None
        dataset_facts = {
            "id": model.dataset_id,
            "name": dataset.name if dataset else None,
            "content_sha256": info.get("dataset_content_sha256"),
        }
        ctx.progress(0.05, "loading images")
        shape = (config["input_width"], config["input_height"], config["color_mode"])
        representative = load_images(
            session, _sample(info.get("train_image_ids", []), config["seed"]), classes, *shape
        )
        held_out_ids = info.get("test_image_ids") or info.get("validation_image_ids", [])
        held_out = load_images(session, held_out_ids, classes, *shape)
    if len(representative) == 0:
        raise ValueError("no training images left in the dataset to calibrate the quantization")
    ctx.raise_if_cancelled()

    ctx.progress(0.2, f"converting to {quantization} TensorFlow Lite")
    keras_model = _load_keras(keras_bytes)
    from tinymlaas.compiling import tflite

    target: tflite.Quantization = "int8" if quantization == "int8" else "float32"
    tflite_model = tflite.convert(keras_model, target, representative.x)
    ctx.raise_if_cancelled()
    ctx.progress(0.5, "measuring the tensor arena in TFLite-Micro")
    arena = tflm.measure_arena(tflite_model).arena_bytes
    input_info, output_info = litert.describe(tflite_model)
    ctx.progress(0.6, f"evaluating on {len(held_out)} held-out images")
    accuracy = _accuracies(keras_model, tflite_model, arena, held_out)
    channels = 1 if config["color_mode"] == "grayscale" else 3
    bytes_per_value = 1 if input_info.is_quantized else 4
    input_bytes = config["input_width"] * config["input_height"] * channels * bytes_per_value
    verdict = fit(
        board,
        model_bytes=len(tflite_model),
        arena_bytes=arena,
        input_bytes=input_bytes,
        channels=channels,
    )
    ctx.progress(0.85, "packaging")
    header, source = to_c_array(tflite_model)
    files: dict[str, bytes] = {
        "model.tflite": tflite_model,
        "model_data.h": header.encode(),
        "model_data.cc": source.encode(),
    }
    manifest = build_manifest(
        created_at=utcnow(),
        compiled_id=compiled_id,
        board=board.id,
        quantization=quantization,
        model=model_facts,
        dataset=dataset_facts,
        classes=classes,
        color_mode=config["color_mode"],
        input_info=input_info,
        output_info=output_info,
        arena_bytes=arena,
        versions={**tflite.tensorflow_versions(), "tflite_micro": tflm.tflm_version()},
        files=files,
    )
    model_id = hashlib.sha256(manifest.encode()).hexdigest()
    files["manifest.json"] = manifest.encode()
    files["arduino_library.zip"] = arduino.build_library(
        model=tflite_model,
        library_name=_library_name(model_facts["name"], compiled_id),
        board=board,
        labels=classes,
        input_width=config["input_width"],
        input_height=config["input_height"],
        channels=channels,
        input_scale=input_info.scale,
        input_zero_point=input_info.zero_point,
        output_scale=output_info.scale,
        output_zero_point=output_info.zero_point,
        int8=input_info.is_quantized,
        arena_bytes=arena,
        model_id=model_id,
        manifest_json=manifest,
    )

    def store(session: Session) -> None:
        row = session.get_one(CompiledModel, compiled_id)
        blobs = DatabaseBlobStore(session)
        for name, data in files.items():
            blob = blobs.put(data)
            session.add(
                CompiledFile(
                    compiled_id=compiled_id,
                    name=name,
                    content_type=CONTENT_TYPES[name],
                    size_bytes=blob.size_bytes,
                    sha256=blob.sha256,
                )
            )
        row.tflite_bytes = len(tflite_model)
        row.arena_bytes = arena
        row.flash_estimate_bytes = verdict.flash_bytes
        row.ram_estimate_bytes = verdict.ram_bytes
        row.fits = verdict.fits
        row.fit_detail = verdict.detail
        row.accuracy = accuracy
        row.input = tensor_dict(input_info)
        row.output = tensor_dict(output_info)

    ctx.store(store)


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


def _accuracies(
    keras_model: Any, tflite_model: bytes, arena: int, held_out: Split
) -> dict[str, Any]:
    """Float Keras, LiteRT and TFLite-Micro accuracy on the same held-out images."""
    if len(held_out) == 0:
        return {"float": None, "int8": None, "tflm": None, "images": 0}

    def accuracy(scores: np.ndarray) -> float:
        return round(float(np.mean(np.argmax(scores, axis=1) == held_out.y)), 6)

    float_scores = predict(keras_model, held_out.x)
    return {
        "float": accuracy(float_scores),
        "int8": accuracy(litert.predict(tflite_model, held_out.x)),
        "tflm": accuracy(tflm.predict(tflite_model, held_out.x, arena_bytes=arena)),
        "images": len(held_out),
    }


def _library_name(name: str, compiled_id: int) -> str:
    """An Arduino library name: letters, digits and underscores, starting with a letter."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "model"
    if not cleaned[0].isalpha():
        cleaned = "m_" + cleaned
    return f"TinyMLaaS_{cleaned}_{compiled_id}"[:60]
