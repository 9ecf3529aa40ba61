from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status

from tinymlaas.auth.dependencies import CurrentUser, SessionDep, SettingsDep
from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.params import Id, Limit, Offset
from tinymlaas.schemas import Page
from tinymlaas.training import catalog, weights_service
from tinymlaas.training.schemas import BaseWeightsRead, ImagenetStatus

router = APIRouter(tags=["weights"])


@router.post(
    "/weights",
    operation_id="upload_weights",
    response_model=BaseWeightsRead,
    status_code=status.HTTP_201_CREATED,
)
def upload_weights(
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    file: Annotated[
        UploadFile, File(description="a Keras HDF5 file: model.save('base.h5') or save_weights")
    ],
    name: Annotated[str | None, Form(min_length=1, max_length=200)] = None,
) -> BaseWeightsRead:
    """Upload a base model of your own (a MobileNet or cnn-small backbone) to train from."""
    base = weights_service.upload_base(
        session,
        DatabaseBlobStore(session),
        user,
        name,
        file.filename or "base.h5",
        file.file,
        settings,
    )
    return BaseWeightsRead.model_validate(base)


@router.get("/weights", operation_id="list_weights", response_model=Page[BaseWeightsRead])
def list_weights(
    session: SessionDep, user: CurrentUser, offset: Offset = 0, limit: Limit = 100
) -> Page[BaseWeightsRead]:
    """Your uploaded base models, newest first."""
    rows, total = weights_service.list_bases(session, user, offset, limit)
    return Page(items=[BaseWeightsRead.model_validate(row) for row in rows], total=total)


@router.get("/weights/imagenet", operation_id="imagenet_weights", response_model=ImagenetStatus)
def imagenet_weights(
    user: CurrentUser,
    settings: SettingsDep,
    architecture: str,
    alpha: Annotated[float | None, Query()] = None,
    input_width: Annotated[int, Query(ge=8, le=640)] = 96,
    input_height: Annotated[int, Query(ge=8, le=640)] = 96,
) -> ImagenetStatus:
    """The ImageNet file a configuration would start from, and whether it is available."""
    spec = catalog.ARCHITECTURES.get(architecture)
    chosen = alpha if alpha is not None else (spec.default_alpha if spec else 1.0)
    return weights_service.imagenet_status(
        settings, architecture, chosen, input_width, input_height
    )


@router.get("/weights/{weights_id}", operation_id="get_weights", response_model=BaseWeightsRead)
def read_weights(weights_id: Id, session: SessionDep, user: CurrentUser) -> BaseWeightsRead:
    """One uploaded base model."""
    return BaseWeightsRead.model_validate(weights_service.get_base(session, user, weights_id))


@router.delete(
    "/weights/{weights_id}", operation_id="delete_weights", status_code=status.HTTP_204_NO_CONTENT
)
def delete_weights(weights_id: Id, session: SessionDep, user: CurrentUser) -> Response:
    """Delete an uploaded base model."""
    base = weights_service.get_base(session, user, weights_id)
    weights_service.delete_base(session, DatabaseBlobStore(session), base)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
