"""Bring your own model: rules of `POST /models/import`. Flushes; the caller commits.

Everything is checked before anything is stored (the request's transaction holds the blob and
the row, so a refusal leaves nothing behind). An int8 .tflite is read completely here
(`tflite_reader`) and the model is ready at once: there is nothing to train. A .keras cannot be
read without TensorFlow, which the API process never imports: its row waits for a short
validation job (`import_tasks.run`) that loads it in a worker and fills in its input and output.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import PurePath
from typing import BinaryIO

from sqlalchemy.orm import Session

from tinymlaas.blobs import BlobStore
from tinymlaas.config import Settings
from tinymlaas.contracts import (
    IMPORTED_ARCHITECTURE,
    ImportedFile,
    ImportFormat,
    TrainingConfig,
    TrainingInfo,
)
from tinymlaas.datasets import service as datasets
from tinymlaas.enums import JobKind, JobStatus
from tinymlaas.errors import BadRequest, TooLarge
from tinymlaas.jobs import service as jobs
from tinymlaas.models import Dataset, TrainedModel, User
from tinymlaas.training import repository
from tinymlaas.training.data import content_hash
from tinymlaas.training.tflite_reader import InvalidModelFile, TfliteFacts, read_tflite

ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class ImportRequest:
    """The form fields of an import, parsed."""

    name: str | None
    classes: list[str]
    dataset_id: int | None


def parse_classes(text: str) -> list[str]:
    """Class names in output order from 'a,b,c'; BadRequest for empty or repeated names."""
    classes = [name.strip() for name in text.split(",")]
    if any(not name for name in classes) or len(classes) < 2:
        raise BadRequest(
            f"classes must be at least 2 comma-separated names, in the order of the model's"
            f" outputs; got {text!r}"
        )
    if len(set(classes)) != len(classes):
        raise BadRequest(f"class names must be distinct; got {classes}")
    if any(len(name) > 100 for name in classes):
        raise BadRequest("a class name is longer than 100 characters")
    return classes


def import_model(
    session: Session,
    blobs: BlobStore,
    owner: User,
    request: ImportRequest,
    filename: str,
    file: BinaryIO,
    settings: Settings,
) -> TrainedModel:
    """Vet the file, classes and dataset; then store the file and the model's row."""
    data = file.read(settings.max_model_import_bytes + 1)
    if len(data) > settings.max_model_import_bytes:
        raise TooLarge(
            f"the model file is over the import limit of {settings.max_model_import_bytes} bytes"
            " (TINYMLAAS_MAX_MODEL_IMPORT_BYTES)"
        )
    file_format = _format_of(filename, data)
    dataset = (
        datasets.get_dataset(session, owner, request.dataset_id)
        if request.dataset_id is not None
        else None
    )
    facts = _read_file(file_format, data, request.classes, settings)
    if file_format == "keras" and dataset is None:
        raise BadRequest(
            "a .keras import needs dataset_id: its int8 quantization is calibrated on the"
            " dataset's images (or import a .tflite that is already int8)"
        )
    info = _held_out_images(session, dataset, request.classes) if dataset else None
    blob = blobs.put(data)
    imported = ImportedFile(
        format=file_format,
        filename=filename[:200],
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        **(_described(facts) if facts else {}),
    )
    job = jobs.create_job(session, owner, JobKind.validate) if file_format == "keras" else None
    model = TrainedModel(
        owner_id=owner.id,
        name=(request.name or PurePath(filename).stem or "imported model")[:200],
        dataset_id=dataset.id if dataset else None,
        job_id=job.id if job else None,
        status=JobStatus.queued if job else JobStatus.succeeded,
        config=_config(facts),
        classes=request.classes,
        history=[],
        training_info=info,
        source="imported",
        imported=imported,
        keras_sha256=blob.sha256 if file_format == "keras" else None,
        tflite_sha256=blob.sha256 if file_format == "tflite" else None,
    )
    session.add(model)
    session.flush()
    return model


def _format_of(filename: str, data: bytes) -> ImportFormat:
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".tflite" or (suffix != ".keras" and data[4:8] == b"TFL3"):
        return "tflite"
    if suffix == ".keras" or data.startswith(ZIP_MAGIC):
        return "keras"
    raise BadRequest(
        f"'{filename}' is neither an int8 TensorFlow Lite model (.tflite) nor a Keras model"
        " (.keras)"
    )


def _read_file(
    file_format: ImportFormat, data: bytes, classes: list[str], settings: Settings
) -> TfliteFacts | None:
    """The .tflite's facts (None for a .keras, which only gets a container check here)."""
    if file_format == "keras":
        _check_keras_container(data)
        return None
    try:
        facts = read_tflite(data, settings.max_import_tensor_bytes)
    except InvalidModelFile as error:
        raise BadRequest(f"invalid model file: {error}") from error
    if facts.class_count != len(classes):
        raise BadRequest(
            f"the model has {facts.class_count} outputs (output shape {facts.output.shape})"
            f" but {len(classes)} class names were given ({', '.join(classes)})"
        )
    return facts


def _check_keras_container(data: bytes) -> None:
    """A .keras file is a zip holding config.json; the weights are checked by the worker."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise BadRequest(f"invalid .keras file: not a zip archive ({error})") from error
    if "config.json" not in names:
        raise BadRequest("invalid .keras file: it has no config.json (saved by Keras 3?)")


def _described(facts: TfliteFacts) -> dict[str, object]:
    return {
        "input": facts.input,
        "output": facts.output,
        "operators": facts.operators,
        "tensor_count": facts.tensor_count,
        "largest_tensor_bytes": facts.largest_tensor_bytes,
    }


def _config(facts: TfliteFacts | None) -> TrainingConfig:
    """The input a model takes; a .keras one's is a placeholder until its validation job."""
    if facts is None:
        return TrainingConfig(architecture=IMPORTED_ARCHITECTURE, alpha=1.0, epochs=0)
    return TrainingConfig(
        architecture=IMPORTED_ARCHITECTURE,
        alpha=1.0,
        input_height=facts.input.shape[1],
        input_width=facts.input.shape[2],
        color_mode=facts.color_mode,
        epochs=0,
    )


def _held_out_images(session: Session, dataset: Dataset, classes: list[str]) -> TrainingInfo:
    """Which of the dataset's images calibrate (train) and evaluate (held out) the model.

    Held out: the test folder's images if any, else the validation folder's, else all of them;
    calibration uses the train folder's images (all images when there are no split folders).
    """
    rows = repository.labelled_images(session, dataset.id)
    labels = sorted({label for _, _, label, _ in rows})
    if sorted(classes) != labels:
        raise BadRequest(
            f"the classes {classes} do not match dataset '{dataset.name}''s labels {labels}"
        )
    by_split: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for image_id, _, _, split in rows:
        by_split.get(split or "train", by_split["train"]).append(image_id)
    source = "validation folder" if by_split["validation"] else "all images (no split folders)"
    validation = by_split["validation"]
    if not validation and not by_split["test"]:
        validation = by_split["train"]
    return TrainingInfo(
        dataset_content_sha256=content_hash(rows),
        train_image_ids=tuple(by_split["train"]),
        validation_image_ids=tuple(validation),
        test_image_ids=tuple(by_split["test"]),
        validation_source=source,
    )
