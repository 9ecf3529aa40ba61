"""The rules of compiling requests, at the service (no HTTP, no TensorFlow), on every backend."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session

from tinymlaas.auth.service import create_user
from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.compiling import service
from tinymlaas.compiling.schemas import CompiledRead, CompileRequest
from tinymlaas.contracts import Activation, Measured, TrainingConfig
from tinymlaas.errors import BadRequest, Conflict, NotFound, TinyMLaaSError
from tinymlaas.models import CompiledFile, CompiledModel, Job, TrainedModel, User


@pytest.fixture
def owner(session: Session) -> User:
    return create_user(session, "compiler", "a-long-password")


def trained(session: Session, owner: User, status: str = "succeeded") -> TrainedModel:
    model = TrainedModel(
        owner_id=owner.id,
        name="flowers",
        status=status,
        config=TrainingConfig(architecture="cnn-small", alpha=1.0),
        classes=["daisy", "rose"],
        history=[],
    )
    session.add(model)
    session.flush()
    return model


def raises(error: type[TinyMLaaSError], status: int, message: str) -> Any:
    """pytest.raises for a service error that must carry `status` and match `message`."""
    assert error.status_code == status
    return pytest.raises(error, match=message)


def test_a_request_records_a_queued_compiled_model_and_its_job(
    session: Session, owner: User
) -> None:
    model = trained(session, owner)
    compiled = service.create_compiled(
        session, owner, model, CompileRequest(board="nano33ble", quantization="float32")
    )

    assert (compiled.model_id, compiled.board) == (model.id, "nano33ble")
    assert (compiled.quantization, compiled.status) == ("float32", "queued")
    job = session.get_one(Job, compiled.job_id)
    assert (job.kind, job.status, job.owner_id) == ("compile", "queued", owner.id)
    assert CompiledRead.model_validate(compiled).quantization == "float32"


def test_an_unknown_board_is_400_naming_the_known_ones(session: Session, owner: User) -> None:
    model = trained(session, owner)
    with raises(BadRequest, 400, "unknown board 'toaster'; known boards: .*nano33ble"):
        service.create_compiled(session, owner, model, CompileRequest(board="toaster"))
    assert session.query(CompiledModel).count() == 0


@pytest.mark.parametrize("status", ["queued", "running", "failed", "cancelled"])
def test_a_model_that_has_not_finished_training_is_400(
    session: Session, owner: User, status: str
) -> None:
    model = trained(session, owner, status)
    with raises(BadRequest, 400, f"model {model.id} has not finished training \\({status}\\)"):
        service.create_compiled(session, owner, model, CompileRequest(board="nano33ble"))
    assert session.query(Job).count() == 0


def test_an_unknown_quantization_is_refused_by_the_schema() -> None:
    with pytest.raises(ValidationError, match="'int8' or 'float32'"):
        CompileRequest.model_validate({"board": "nano33ble", "quantization": "int4"})


def test_another_users_compiled_model_is_404(session: Session, owner: User) -> None:
    compiled = service.create_compiled(
        session, owner, trained(session, owner), CompileRequest(board="nano33ble")
    )
    stranger = create_user(session, "stranger", "a-long-password")
    assert service.get_compiled(session, owner, compiled.id) is compiled
    with raises(NotFound, 404, f"compiled model {compiled.id} not found"):
        service.get_compiled(session, stranger, compiled.id)


def test_a_compiled_model_being_built_cannot_be_deleted(session: Session, owner: User) -> None:
    compiled = service.create_compiled(
        session, owner, trained(session, owner), CompileRequest(board="nano33ble")
    )
    blobs = DatabaseBlobStore(session)
    with raises(Conflict, 409, f"still being built \\(job {compiled.job_id}\\)"):
        service.delete_compiled(session, blobs, compiled)
    compiled.status = "failed"
    session.flush()
    service.delete_compiled(session, blobs, compiled)
    assert session.get(CompiledModel, compiled.id) is None


def test_a_missing_file_is_404_listing_the_files_there_are(session: Session, owner: User) -> None:
    compiled = service.create_compiled(
        session, owner, trained(session, owner), CompileRequest(board="nano33ble")
    )
    with raises(
        NotFound, 404, f"compiled model {compiled.id} has no file 'model.tflite'.*none yet"
    ):
        service.get_file(session, compiled, "model.tflite")

    blob = DatabaseBlobStore(session).put(b"TFL3")
    session.add(
        CompiledFile(
            compiled_id=compiled.id,
            name="model.tflite",
            content_type="application/octet-stream",
            size_bytes=blob.size_bytes,
            sha256=blob.sha256,
        )
    )
    session.flush()
    assert service.get_file(session, compiled, "model.tflite").sha256 == blob.sha256
    with raises(NotFound, 404, r"no file 'manifest.json' \(files: model.tflite\)"):
        service.get_file(session, compiled, "manifest.json")


def test_the_engine_is_tflm_unless_asked_and_c_is_recorded(session: Session, owner: User) -> None:
    model = trained(session, owner)
    default = service.create_compiled(session, owner, model, CompileRequest(board="nano33ble"))
    c = service.create_compiled(
        session, owner, model, CompileRequest(board="nano33ble", engine="c")
    )
    session.expire_all()

    assert (default.engine, c.engine) == ("tflm", "c")
    read = CompiledRead.model_validate(session.get_one(CompiledModel, c.id))
    assert (read.engine, read.activation, read.measured) == ("c", None, None)


def test_the_c_engine_with_float32_is_400_saying_why(session: Session, owner: User) -> None:
    model = trained(session, owner)
    request = CompileRequest(board="nano33ble", quantization="float32", engine="c")
    with raises(BadRequest, 400, "the c engine compiles int8 models only"):
        service.create_compiled(session, owner, model, request)
    assert session.query(Job).count() == 0


def test_an_unknown_engine_is_refused_by_the_schema() -> None:
    with pytest.raises(ValidationError, match="'tflm' or 'c'"):
        CompileRequest.model_validate({"board": "nano33ble", "engine": "tvm"})


def test_the_c_engines_figures_are_stored_as_typed_json(session: Session, owner: User) -> None:
    model = trained(session, owner)
    compiled = service.create_compiled(
        session, owner, model, CompileRequest(board="nano33ble", engine="c")
    )
    compiled.activation = Activation(peak_bytes=55_296, floor_bytes=55_296)
    compiled.measured = Measured(
        core="cortex-m4", flash_bytes=90_000, weights_bytes=70_000, code_bytes=20_000,
        ram_bytes=60_000, stack_bytes=900, instructions=14_000_000, latency_ms_estimate=218.75,
    )  # fmt: skip
    session.flush()
    session.expire_all()

    row = session.get_one(CompiledModel, compiled.id)
    assert row.activation == Activation(peak_bytes=55_296, floor_bytes=55_296)
    assert row.measured is not None
    assert row.measured.instructions == 14_000_000
    shown = CompiledRead.model_validate(row).model_dump(mode="json")
    assert shown["measured"]["core"] == "cortex-m4"
    assert shown["activation"] == {
        "peak_bytes": 55_296,
        "floor_bytes": 55_296,
        "in_place_saved_bytes": 0,
    }
