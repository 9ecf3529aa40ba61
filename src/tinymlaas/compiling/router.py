from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from tinymlaas.auth.dependencies import CurrentUser, SessionDep
from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.compiling import repository, service
from tinymlaas.compiling.schemas import (
    BoardRead,
    CompiledFileRead,
    CompiledRead,
    CompileRequest,
)
from tinymlaas.hardware.boards import BOARDS
from tinymlaas.jobs.schemas import JobAccepted
from tinymlaas.models import CompiledModel
from tinymlaas.params import Id, Limit, Offset, OptionalIdFilter
from tinymlaas.schemas import Page
from tinymlaas.training.dependencies import ModelDep

router = APIRouter(tags=["compiling"])


def get_compiled(compiled_id: Id, session: SessionDep, user: CurrentUser) -> CompiledModel:
    return service.get_compiled(session, user, compiled_id)


CompiledDep = Annotated[CompiledModel, Depends(get_compiled)]


@router.get("/boards", operation_id="list_boards", response_model=list[BoardRead])
def list_boards(user: CurrentUser) -> list[BoardRead]:
    """The boards a model can be compiled for, with their memories."""
    return [BoardRead(**board.as_dict()) for board in BOARDS.values()]


@router.post(
    "/models/{model_id}/compile",
    operation_id="compile_model",
    response_model=JobAccepted,
    status_code=status.HTTP_202_ACCEPTED,
)
def compile_model(
    payload: CompileRequest,
    model: ModelDep,
    session: SessionDep,
    user: CurrentUser,
) -> JobAccepted:
    """Queue quantizing, compiling and verifying a trained model for a board."""
    return JobAccepted.model_validate(service.create_compiled(session, user, model, payload))


@router.get("/compiled", operation_id="list_compiled", response_model=Page[CompiledRead])
def list_compiled(
    session: SessionDep,
    user: CurrentUser,
    model_id: OptionalIdFilter = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Page[CompiledRead]:
    """The user's compiled models, newest first, optionally for one model."""
    rows, total = repository.list_owned(session, user.id, model_id, offset, limit)
    return Page(items=[CompiledRead.model_validate(row) for row in rows], total=total)


@router.get("/compiled/{compiled_id}", operation_id="get_compiled", response_model=CompiledRead)
def read_compiled(compiled: CompiledDep) -> CompiledRead:
    """One compiled model: footprint, fit verdict, accuracies, quantization."""
    return CompiledRead.model_validate(compiled)


@router.delete(
    "/compiled/{compiled_id}",
    operation_id="delete_compiled",
    status_code=status.HTTP_204_NO_CONTENT,
)
def delete_compiled(compiled: CompiledDep, session: SessionDep) -> Response:
    """Delete a compiled model and its files."""
    service.delete_compiled(session, DatabaseBlobStore(session), compiled)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/compiled/{compiled_id}/files",
    operation_id="list_compiled_files",
    response_model=Page[CompiledFileRead],
)
def list_files(compiled: CompiledDep, session: SessionDep) -> Page[CompiledFileRead]:
    """The downloadable files of a compiled model."""
    rows = repository.files(session, compiled.id)
    return Page(items=[CompiledFileRead.model_validate(r) for r in rows], total=len(rows))


@router.get(
    "/compiled/{compiled_id}/files/{name}",
    operation_id="get_compiled_file",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def get_file(name: str, compiled: CompiledDep, session: SessionDep) -> Response:
    """Download one file (model.tflite, model_data.h/.cc, arduino_library.zip, manifest.json)."""
    found = service.get_file(session, compiled, name)
    data = DatabaseBlobStore(session).get(found.sha256)
    return Response(
        data,
        media_type=found.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{found.name}"',
            "ETag": f'"{found.sha256}"',
        },
    )
