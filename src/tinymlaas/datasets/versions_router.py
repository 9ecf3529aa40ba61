"""Dataset versions over HTTP: /datasets/{id}/versions… and /dataset-versions/{id}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from tinymlaas.auth.dependencies import CurrentUser, SessionDep
from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.datasets import export, versions
from tinymlaas.datasets import versions_repository as repository
from tinymlaas.datasets.router import DatasetDep
from tinymlaas.datasets.version_schemas import VersionCreate, VersionDiffRead, VersionRead
from tinymlaas.models import DatasetVersion
from tinymlaas.params import MAX_ID, Id, Limit, Offset
from tinymlaas.schemas import Page

router = APIRouter(tags=["datasets"])

VersionNumber = Annotated[int, Query(ge=1, le=MAX_ID)]


def get_version(number: Id, dataset: DatasetDep, session: SessionDep) -> DatasetVersion:
    return versions.get_version(session, dataset, number)


VersionDep = Annotated[DatasetVersion, Depends(get_version)]


def _export(request: Request, version: DatasetVersion) -> StreamingResponse:
    size, chunks = export.version_zip_stream(request.app.state.session_factory, version.id)
    return export.zip_response(size, chunks, f"{version.dataset_name}-v{version.number}.zip")


@router.post(
    "/datasets/{dataset_id}/versions",
    operation_id="create_dataset_version",
    response_model=VersionRead,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "The dataset has not changed since its latest version"}},
)
def create_version(payload: VersionCreate, dataset: DatasetDep, session: SessionDep) -> VersionRead:
    """Snapshot the dataset's folders and images as its next version (rows, not bytes)."""
    version = versions.create_version(session, dataset, payload.note)
    return versions.describe(session, [version])[0]


@router.get(
    "/datasets/{dataset_id}/versions",
    operation_id="list_dataset_versions",
    response_model=Page[VersionRead],
)
def list_versions(
    dataset: DatasetDep, session: SessionDep, offset: Offset = 0, limit: Limit = 100
) -> Page[VersionRead]:
    """The dataset's versions, newest first."""
    rows, total = repository.list_versions(session, dataset.id, offset, limit)
    return Page(items=versions.describe(session, rows), total=total)


@router.get(
    "/datasets/{dataset_id}/versions/diff",
    operation_id="diff_dataset_versions",
    response_model=VersionDiffRead,
)
def diff_versions(
    dataset: DatasetDep,
    session: SessionDep,
    from_number: Annotated[int, Query(alias="from", ge=1, le=MAX_ID)],
    to_number: Annotated[
        int | None, Query(alias="to", ge=1, le=MAX_ID, description="default: the dataset now")
    ] = None,
) -> VersionDiffRead:
    """Images added, removed and relabelled (same bytes, another label) between two versions."""
    return versions.diff(session, dataset, from_number, to_number)


@router.get(
    "/datasets/{dataset_id}/versions/{number}",
    operation_id="get_dataset_version",
    response_model=VersionRead,
)
def read_version(version: VersionDep, session: SessionDep) -> VersionRead:
    """One version with its counts and the models that learnt from it."""
    return versions.describe(session, [version])[0]


@router.get(
    "/datasets/{dataset_id}/versions/{number}/export",
    operation_id="export_dataset_version",
    response_class=StreamingResponse,
)
def export_version(version: VersionDep, request: Request) -> StreamingResponse:
    """Download the version as a zip, in the same format as the dataset's export."""
    return _export(request, version)


@router.delete(
    "/datasets/{dataset_id}/versions/{number}",
    operation_id="delete_dataset_version",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "Models learnt from it (listed in `models`)"}},
)
def delete_version(version: VersionDep, dataset: DatasetDep, session: SessionDep) -> Response:
    """Delete a version no model learnt from (freeing the bytes only it held)."""
    versions.delete_version(session, DatabaseBlobStore(session), dataset, version)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/dataset-versions/{version_id}",
    operation_id="get_dataset_version_by_id",
    response_model=VersionRead,
)
def read_version_by_id(version_id: Id, session: SessionDep, user: CurrentUser) -> VersionRead:
    """A version by id (a model's `dataset_version_id`), also once its dataset is deleted."""
    version = versions.get_owned_version(session, user, version_id)
    return versions.describe(session, [version])[0]


@router.get(
    "/dataset-versions/{version_id}/export",
    operation_id="export_dataset_version_by_id",
    response_class=StreamingResponse,
)
def export_version_by_id(
    version_id: Id, request: Request, session: SessionDep, user: CurrentUser
) -> StreamingResponse:
    """Download a version by id as a zip, also once its dataset is deleted."""
    return _export(request, versions.get_owned_version(session, user, version_id))
