from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from tinymlaas.auth.dependencies import CurrentUser, ReaderDep, SessionDep, SettingsDep
from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.datasets import export, ingest, moves, reads, service
from tinymlaas.datasets.schemas import (
    DatasetCreate,
    DatasetRead,
    DatasetUpdate,
    DatasetUploadRead,
    FolderCreate,
    FolderRead,
    FolderUpdate,
    ImageRead,
    ImagesMove,
    ImageUpdate,
    RejectedUpload,
)
from tinymlaas.models import Dataset, Image
from tinymlaas.params import Id, Limit, Offset
from tinymlaas.schemas import Page

router = APIRouter(prefix="/datasets", tags=["datasets"])

REJECTIONS: dict[int | str, dict[str, object]] = {
    400: {"model": RejectedUpload, "description": "An entry was rejected; nothing was stored"},
    409: {"model": RejectedUpload, "description": "A name or path is taken"},
}


def get_dataset(
    dataset_id: Id, request: Request, session: SessionDep, user: CurrentUser
) -> Dataset:
    changes = request.method not in ("GET", "HEAD")
    return service.get_dataset(session, user, dataset_id, for_update=changes)


DatasetDep = Annotated[Dataset, Depends(get_dataset)]


def get_image(image_id: Id, dataset: DatasetDep, session: SessionDep) -> Image:
    return service.get_image(session, dataset, image_id)


ImageDep = Annotated[Image, Depends(get_image)]


def _read(session: Session, dataset: Dataset) -> DatasetRead:
    return service.describe(session, [dataset])[0]


@router.get("", operation_id="list_datasets", response_model=Page[DatasetRead])
async def list_datasets(reader: ReaderDep, offset: Offset = 0, limit: Limit = 100) -> Response:
    """The user's datasets, newest first."""

    return await reader.answer_rows(
        lambda connection: reads.dataset_page(connection, reader.user, offset, limit)
    )


@router.post(
    "",
    operation_id="create_dataset",
    response_model=DatasetRead,
    status_code=status.HTTP_201_CREATED,
)
def create_dataset(payload: DatasetCreate, session: SessionDep, user: CurrentUser) -> DatasetRead:
    """Create an empty dataset."""
    dataset = service.create_dataset(session, user, payload.name, payload.description)
    return _read(session, dataset)


@router.post(
    "/import",
    operation_id="import_dataset",
    response_model=DatasetUploadRead,
    status_code=status.HTTP_201_CREATED,
    responses=REJECTIONS,
)
def import_dataset(
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="a zip of images; folders are labels")],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    description: Annotated[str, Form(max_length=4000)] = "",
) -> DatasetUploadRead:
    """Create a dataset from a zip of images, keeping its folders; documentation is skipped."""
    return service.import_dataset(
        session,
        DatabaseBlobStore(session),
        user,
        DatasetCreate(name=name, description=description),
        ingest.Upload(file.filename or "upload.zip", file.file),
        settings,
    )


@router.get("/{dataset_id}", operation_id="get_dataset", response_model=DatasetRead)
async def read_dataset(dataset_id: Id, reader: ReaderDep) -> Response:
    """One dataset with its counts."""

    return await reader.answer_rows(
        lambda connection: reads.read_dataset(connection, reader.user, dataset_id)
    )


@router.patch("/{dataset_id}", operation_id="update_dataset", response_model=DatasetRead)
def update_dataset(payload: DatasetUpdate, dataset: DatasetDep, session: SessionDep) -> DatasetRead:
    """Rename a dataset or change its description."""
    return _read(session, service.update_dataset(session, dataset, payload))


@router.delete(
    "/{dataset_id}", operation_id="delete_dataset", status_code=status.HTTP_204_NO_CONTENT
)
def delete_dataset(dataset: DatasetDep, session: SessionDep) -> Response:
    """Delete a dataset and every image in it."""
    service.delete_dataset(session, DatabaseBlobStore(session), dataset)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{dataset_id}/export", operation_id="export_dataset", response_class=StreamingResponse)
def export_dataset(dataset: DatasetDep, request: Request) -> StreamingResponse:
    """Download the dataset as a zip with the same folders and byte-identical images."""
    return export.download_response(request.app.state.session_factory, dataset.id, dataset.name)


@router.post(
    "/{dataset_id}/images",
    operation_id="add_images",
    response_model=DatasetUploadRead,
    status_code=status.HTTP_201_CREATED,
    responses=REJECTIONS,
)
def add_images(
    dataset: DatasetDep,
    session: SessionDep,
    settings: SettingsDep,
    files: Annotated[list[UploadFile], File(description="images and/or zips of images")],
    folder: Annotated[str, Form(max_length=512)] = "",
) -> DatasetUploadRead:
    """Add images (or zips of images) to a folder; nothing is stored if any is rejected."""
    uploads = [ingest.Upload(upload.filename or "", upload.file) for upload in files]
    blobs = DatabaseBlobStore(session)
    return service.add_images(session, blobs, dataset, uploads, folder, settings).dataset


@router.get("/{dataset_id}/images", operation_id="list_images", response_model=Page[ImageRead])
async def list_images(
    dataset_id: Id,
    reader: ReaderDep,
    folder: str | None = None,
    label: str | None = None,
    split: str | None = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Response:
    """Images of the dataset, filtered by folder, label or split."""
    if folder is not None:
        folder = service.folder_or_error(folder)
    if split is not None:
        split = service.split_or_error(split)

    where = reads.ImageFilter(folder, label, split)
    return await reader.answer_rows(
        lambda connection: reads.image_page(
            connection, reader.user, dataset_id, where, offset, limit
        )
    )


@router.get("/{dataset_id}/images/{image_id}", operation_id="get_image", response_model=ImageRead)
async def read_image(image_id: Id, dataset_id: Id, reader: ReaderDep) -> Response:
    """One image's metadata."""

    return await reader.answer_rows(
        lambda connection: reads.read_image(connection, reader.user, dataset_id, image_id)
    )


@router.get(
    "/{dataset_id}/images/{image_id}/content",
    operation_id="get_image_content",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}}},
)
def image_content(image: ImageDep, session: SessionDep) -> Response:
    """The image's original bytes."""
    data = DatabaseBlobStore(session).get(image.sha256)
    return Response(
        data,
        media_type=service.content_type(image),
        headers={"ETag": f'"{image.sha256}"', "Cache-Control": "private, max-age=86400"},
    )


@router.get(
    "/{dataset_id}/images/{image_id}/thumbnail",
    operation_id="get_image_thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def image_thumbnail(image: ImageDep, session: SessionDep) -> Response:
    """A small JPEG preview of the image."""
    data = service.thumbnail(session, DatabaseBlobStore(session), image)
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"}
    )


@router.patch(
    "/{dataset_id}/images/{image_id}", operation_id="update_image", response_model=ImageRead
)
def update_image(
    payload: ImageUpdate, image: ImageDep, dataset: DatasetDep, session: SessionDep
) -> ImageRead:
    """Move an image to another folder (relabelling it) and/or rename it."""
    moved = moves.move_image(
        session, dataset, image, payload.folder, payload.name, payload.on_conflict
    )
    return ImageRead.model_validate(moved)


@router.post(
    "/{dataset_id}/images/move",
    operation_id="move_images",
    response_model=Page[ImageRead],
    responses={409: {"model": RejectedUpload, "description": "Names taken; nothing was moved"}},
)
def move_images(payload: ImagesMove, dataset: DatasetDep, session: SessionDep) -> Page[ImageRead]:
    """Move several images into a folder (relabelling them), all or nothing."""
    images = service.get_images(session, dataset, payload.image_ids)
    moved = moves.move_images(session, dataset, images, payload.folder, payload.on_conflict)
    return Page(
        items=[ImageRead.model_validate(row) for row in moved.images], total=len(moved.images)
    )


@router.delete(
    "/{dataset_id}/images/{image_id}",
    operation_id="delete_image",
    status_code=status.HTTP_204_NO_CONTENT,
)
def delete_image(image: ImageDep, dataset: DatasetDep, session: SessionDep) -> Response:
    """Delete one image."""
    service.delete_image(session, DatabaseBlobStore(session), dataset, image)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{dataset_id}/folders", operation_id="list_folders", response_model=Page[FolderRead])
def list_folders(dataset: DatasetDep, session: SessionDep) -> Page[FolderRead]:
    """Every folder of the dataset, empty ones included, with image counts."""
    folders = service.list_folders(session, dataset)
    return Page(items=folders, total=len(folders))


@router.post(
    "/{dataset_id}/folders",
    operation_id="create_folder",
    response_model=FolderRead,
    status_code=status.HTTP_201_CREATED,
)
def create_folder(payload: FolderCreate, dataset: DatasetDep, session: SessionDep) -> FolderRead:
    """Create a folder (and its missing parents)."""
    return service.create_folder(session, dataset, payload.path)


@router.patch(
    "/{dataset_id}/folders/{path:path}", operation_id="update_folder", response_model=FolderRead
)
def update_folder(
    path: str, payload: FolderUpdate, dataset: DatasetDep, session: SessionDep
) -> FolderRead:
    """Rename or move a folder with everything in it."""
    folder = service.get_folder(session, dataset, path)
    return service.rename_folder(session, dataset, folder, payload.path)


@router.delete(
    "/{dataset_id}/folders/{path:path}",
    operation_id="delete_folder",
    status_code=status.HTTP_204_NO_CONTENT,
)
def delete_folder(
    path: str, dataset: DatasetDep, session: SessionDep, recursive: bool = False
) -> Response:
    """Delete a folder; a folder with images or subfolders needs recursive=true."""
    folder = service.get_folder(session, dataset, path)
    service.delete_folder(session, DatabaseBlobStore(session), dataset, folder, recursive=recursive)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
