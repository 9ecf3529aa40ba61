from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status

from tinymlaas.auth.dependencies import CurrentUser, ReaderDep, SessionDep, SettingsDep
from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.jobs.schemas import JobAccepted
from tinymlaas.params import Id, Limit, Offset, OptionalIdFilter
from tinymlaas.schemas import Page
from tinymlaas.training import catalog, importing, repository, service
from tinymlaas.training.dependencies import ModelDep
from tinymlaas.training.schemas import (
    ArchitectureRead,
    EstimateQuery,
    EstimateRead,
    FootprintRead,
    ModelCreate,
    ModelRead,
    ModelUpdate,
)

router = APIRouter(tags=["training"])


@router.get(
    "/architectures", operation_id="list_architectures", response_model=list[ArchitectureRead]
)
def list_architectures(user: CurrentUser) -> list[ArchitectureRead]:
    """What can be trained, with each architecture's widths, input sizes and footprints."""
    return [
        ArchitectureRead(
            id=arch.id,
            name=arch.name,
            description=arch.description,
            alphas=list(arch.alphas),
            default_alpha=arch.default_alpha,
            min_input=arch.min_input,
            max_input=arch.max_input,
            default_input=arch.default_input,
            footprints={
                f"{alpha:g}": FootprintRead(**vars(footprint))
                for alpha, footprint in arch.footprints.items()
            },
        )
        for arch in catalog.ARCHITECTURES.values()
    ]


@router.get(
    "/architectures/{architecture}/estimate",
    operation_id="estimate_architecture",
    response_model=EstimateRead,
)
def estimate_architecture(
    architecture: str, user: CurrentUser, query: Annotated[EstimateQuery, Query()]
) -> EstimateRead:
    """Expected int8 footprint before training, and whether it fits a board."""
    return service.estimate(
        architecture,
        query.alpha,
        query.input_width,
        query.input_height,
        query.color_mode,
        query.classes,
        query.board,
    )


@router.post(
    "/models",
    operation_id="train_model",
    response_model=JobAccepted,
    status_code=status.HTTP_202_ACCEPTED,
)
def train_model(
    payload: ModelCreate,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
) -> JobAccepted:
    """Queue the training of a new model (or a new version continuing from base_model_id)."""
    return JobAccepted.model_validate(service.create_model(session, user, payload, settings))


@router.post(
    "/models/import",
    operation_id="import_model",
    response_model=ModelRead,
    status_code=status.HTTP_201_CREATED,
)
def import_model(
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="an int8 .tflite, or a .keras to quantize")],
    classes: Annotated[
        str, Form(max_length=10_000, description="class names in output order: 'a,b,c'")
    ],
    name: Annotated[str | None, Form(min_length=1, max_length=200)] = None,
    dataset_id: Annotated[int | None, Form(ge=1, le=2**31 - 1)] = None,
) -> ModelRead:
    """Import a model trained elsewhere; it compiles like a trained one (no training job)."""
    request = importing.ImportRequest(name, importing.parse_classes(classes), dataset_id)
    model = importing.import_model(
        session,
        DatabaseBlobStore(session),
        user,
        request,
        file.filename or "model",
        file.file,
        settings,
    )
    return ModelRead.model_validate(model)


@router.get("/models", operation_id="list_models", response_model=Page[ModelRead])
def list_models(
    session: SessionDep,
    user: CurrentUser,
    dataset_id: OptionalIdFilter = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Page[ModelRead]:
    """The user's models, newest first."""
    rows, total = repository.list_owned(session, user.id, dataset_id, offset, limit)
    return Page(items=[ModelRead.model_validate(row) for row in rows], total=total)


@router.get("/models/{model_id}", operation_id="get_model", response_model=ModelRead)
async def read_model(model_id: Id, reader: ReaderDep) -> Response:
    """One model: configuration, classes, history and metrics."""

    return await reader.answer_rows(
        lambda connection: service.read_model(connection, reader.user, model_id)
    )


@router.patch("/models/{model_id}", operation_id="update_model", response_model=ModelRead)
def update_model(payload: ModelUpdate, model: ModelDep, session: SessionDep) -> ModelRead:
    """Rename a model."""
    return ModelRead.model_validate(service.update_model(session, model, payload))


@router.delete(
    "/models/{model_id}", operation_id="delete_model", status_code=status.HTTP_204_NO_CONTENT
)
def delete_model(model: ModelDep, session: SessionDep) -> Response:
    """Delete a model and its compiled versions."""
    service.delete_model(session, DatabaseBlobStore(session), model)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
