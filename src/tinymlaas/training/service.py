"""Rules of training requests and trained models. Flushes; the caller commits."""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from tinymlaas.blobs import BlobStore
from tinymlaas.config import Settings
from tinymlaas.contracts import ColorMode, TrainingConfig, channels_of
from tinymlaas.datasets import service as datasets
from tinymlaas.datasets import versions
from tinymlaas.enums import FINISHED_STATUSES, JobKind, JobStatus
from tinymlaas.errors import BadRequest, Conflict, NotFound
from tinymlaas.hardware import footprint
from tinymlaas.hardware.boards import board_or_error
from tinymlaas.jobs import service as jobs
from tinymlaas.models import Dataset, TrainedModel, User
from tinymlaas.training import catalog, repository, weights_service
from tinymlaas.training.schemas import EstimateRead, ModelCreate, ModelRead, ModelUpdate

# Settings a continued model must share with its base, so the weights still fit.
INHERITED = ("architecture", "alpha", "input_width", "input_height", "color_mode")


def estimate(
    architecture: str,
    alpha: float | None,
    width: int,
    height: int,
    color_mode: ColorMode,
    classes: int,
    board: str | None,
) -> EstimateRead:
    """Expected int8 footprint before training and, for a board, whether it should fit."""
    try:
        arch, effective_alpha = catalog.validate(architecture, alpha, width, height)
        channels = channels_of(color_mode)
        expected = catalog.estimate(arch.id, effective_alpha, width, height, channels, classes)
    except catalog.InvalidTrainingConfig as exc:
        raise BadRequest(str(exc)) from exc
    result = EstimateRead(architecture=arch.id, alpha=effective_alpha, **vars(expected))
    if board is not None:
        verdict = footprint.fit(
            board_or_error(board),
            model_bytes=expected.flash_bytes,
            arena_bytes=expected.arena_bytes,
            input_bytes=expected.input_bytes,
            channels=channels,
        )
        result.board = board
        result.fits = verdict.fits
        result.ram_estimate_bytes = verdict.ram_bytes
        result.flash_estimate_bytes = verdict.flash_bytes
    return result


def class_count(session: Session, owner: User, dataset_id: int | None) -> int:
    """The classes a model of the dataset would have (labels with images; at least 2)."""
    if dataset_id is None:
        return 2
    dataset = datasets.get_dataset(session, owner, dataset_id)
    counts = repository.label_counts(session, dataset.id)
    return max(2, sum(1 for count in counts.values() if count > 0))


def get_model(session: Session, owner: User, model_id: int) -> TrainedModel:
    model = repository.get_owned(session, owner.id, model_id)
    if model is None:
        raise NotFound(f"model {model_id} not found")
    return model


def read_model(connection: Connection, owner: User, model_id: int) -> ModelRead:
    """One of the owner's models as the API shows it, read on a plain connection (hot path)."""
    row = repository.get_owned_row(connection, owner.id, model_id)
    if row is None:
        raise NotFound(f"model {model_id} not found")
    return ModelRead.model_validate(dict(row._mapping))


def create_model(
    session: Session, owner: User, request: ModelCreate, settings: Settings
) -> TrainedModel:
    """Validate a training request completely, then record the model and its queued job."""
    dataset = datasets.get_dataset(session, owner, request.dataset_id)
    base = None
    if request.base_model_id is not None:
        if request.weights != "none":
            raise BadRequest(
                "a model continued from base_model_id starts from its base model's weights;"
                " leave weights out (or 'none')"
            )
        base = get_model(session, owner, request.base_model_id)
        if base.status != JobStatus.succeeded:
            raise BadRequest(f"base model {base.id} has not finished training ({base.status})")
        request = _inherit(request, base)
    if request.architecture is None:
        raise BadRequest(
            "architecture is required to train a new model (see GET /architectures);"
            " a model continued from base_model_id takes its base's"
        )
    try:
        architecture, alpha = catalog.validate(
            request.architecture, request.alpha, request.input_width, request.input_height
        )
    except catalog.InvalidTrainingConfig as exc:
        raise BadRequest(str(exc)) from exc

    classes = _trainable_classes(session, dataset)
    if base is not None and classes != base.classes:
        raise BadRequest(
            f"dataset classes {classes} differ from base model {base.id}'s {base.classes};"
            " continue training needs the same classes"
        )
    # What the job will read: the dataset's rows now, whatever happens to it while it waits.
    version = versions.current_version(session, dataset, f"used to train '{request.name}'")

    # Settings the request leaves out (None) take TrainingConfig's defaults.
    given = request.model_dump(exclude={"name", "dataset_id", "base_model_id"}, exclude_none=True)
    config = TrainingConfig.model_validate(
        {**given, "architecture": architecture.id, "alpha": alpha}
    )
    weights_service.check_weights(session, owner, settings, config)
    job = jobs.create_job(session, owner, JobKind.train)
    model = TrainedModel(
        owner_id=owner.id,
        name=request.name,
        dataset_id=dataset.id,
        dataset_version_id=version.id,
        dataset_version=version.number,
        job_id=job.id,
        base_model_id=base.id if base else None,
        status=JobStatus.queued,
        config=config,
        classes=classes,
        history=[],
    )
    session.add(model)
    session.flush()
    return model


def _trainable_classes(session: Session, dataset: Dataset) -> list[str]:
    """The dataset's classes with images, once it has enough of them to train on."""
    counts = repository.label_counts(session, dataset.id)
    if not counts:
        raise BadRequest(
            f"dataset '{dataset.name}' has no labelled images: put images in folders named"
            " after their class"
        )
    classes = sorted(label for label, count in counts.items() if count > 0)
    if len(classes) < 2:
        raise BadRequest(
            f"dataset '{dataset.name}' needs at least 2 classes with images to train;"
            f" it has {len(classes)} ({', '.join(classes)})"
        )
    splits = repository.split_counts(session, dataset.id)
    if any(split is not None for split in splits) and not splits.get("train"):
        raise BadRequest("the dataset has split folders but no images in 'train'")
    return classes


def _inherit(request: ModelCreate, base: TrainedModel) -> ModelCreate:
    """Fill the architecture settings from the base model; refuse ones that contradict it."""
    values = request.model_dump()
    for field in INHERITED:
        base_value = getattr(base.config, field)
        given = values.get(field)
        if field in request.model_fields_set and given is not None and given != base_value:
            raise BadRequest(
                f"{field} {given!r} differs from base model {base.id}'s {base_value!r};"
                " a continued model keeps its base's architecture and input"
            )
        values[field] = base_value
    return ModelCreate.model_validate(values)


def update_model(session: Session, model: TrainedModel, changes: ModelUpdate) -> TrainedModel:
    values = changes.model_dump(exclude_unset=True)
    if values.get("name"):
        model.name = values["name"]
    session.flush()
    return model


def delete_model(session: Session, blobs: BlobStore, model: TrainedModel) -> None:
    """Delete a model with its compiled versions and their files."""
    if model.status not in FINISHED_STATUSES:
        raise Conflict(
            f"model {model.id} is still training (job {model.job_id}); cancel the job first"
        )
    refs = [model.keras_sha256 or "", model.tflite_sha256 or ""]
    version_id = model.dataset_version_id
    refs += repository.delete_compiled_versions(session, model.id)
    session.delete(model)
    session.flush()
    blobs.release(refs)
    versions.release_if_orphaned(session, blobs, version_id)
