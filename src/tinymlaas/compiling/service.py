"""Rules of compiling requests and compiled models. Flushes; the caller commits."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tinymlaas.blobs import BlobStore, DatabaseBlobStore
from tinymlaas.compiling import repository
from tinymlaas.compiling.schemas import CompileRequest
from tinymlaas.enums import FINISHED_STATUSES, JobKind, JobStatus
from tinymlaas.errors import BadRequest, Conflict, NotFound
from tinymlaas.hardware.boards import board_or_error
from tinymlaas.jobs import service as jobs
from tinymlaas.models import CompiledFile, CompiledModel, TrainedModel, User


def get_compiled(session: Session, owner: User, compiled_id: int) -> CompiledModel:
    compiled = repository.get_owned(session, owner.id, compiled_id)
    if compiled is None:
        raise NotFound(f"compiled model {compiled_id} not found")
    return compiled


def create_compiled(
    session: Session, owner: User, model: TrainedModel, request: CompileRequest
) -> CompiledModel:
    board = board_or_error(request.board)
    if model.status != JobStatus.succeeded:
        raise BadRequest(f"model {model.id} has not finished training ({model.status})")
    if model.tflite_sha256 is not None and request.quantization != "int8":
        raise BadRequest(
            f"model {model.id} was imported as an int8 .tflite, which is compiled as it is:"
            " it cannot become float32 (import its .keras to compile a float32 version)"
        )
    if request.engine == "c":
        _check_c_engine(session, model, request)
    job = jobs.create_job(session, owner, JobKind.compile)
    compiled = CompiledModel(
        owner_id=owner.id,
        model_id=model.id,
        job_id=job.id,
        board=board.id,
        quantization=request.quantization,
        engine=request.engine,
        status=JobStatus.queued,
    )
    session.add(compiled)
    session.flush()
    return compiled


def _check_c_engine(session: Session, model: TrainedModel, request: CompileRequest) -> None:
    """The C engine runs int8 models; an imported .tflite is read now, so an operator the
    engine lacks is refused before any job (a trained model's job checks its own)."""
    if request.quantization != "int8":
        raise BadRequest(
            "the c engine compiles int8 models only (it generates integer kernels);"
            f" use quantization int8, or the tflm engine for {request.quantization}"
        )
    if model.tflite_sha256 is not None:
        from tinymlaas.engine.reader import read_model

        read_model(DatabaseBlobStore(session).get(model.tflite_sha256))


def get_file(session: Session, compiled: CompiledModel, name: str) -> CompiledFile:
    found = repository.file(session, compiled.id, name)
    if found is None:
        names = ", ".join(f.name for f in repository.files(session, compiled.id)) or "none yet"
        raise NotFound(f"compiled model {compiled.id} has no file '{name}' (files: {names})")
    return found


def delete_compiled(session: Session, blobs: BlobStore, compiled: CompiledModel) -> None:
    if compiled.status not in FINISHED_STATUSES:
        raise Conflict(
            f"compiled model {compiled.id} is still being built (job {compiled.job_id});"
            " cancel the job first"
        )
    blobs.release(repository.delete_compiled(session, [compiled.id]))
