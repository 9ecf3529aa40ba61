"""Dataset pages: list, create, import, the dataset view with folders and images, export."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from tinymlaas.auth.dependencies import SessionDep, SettingsDep
from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.datasets import (
    export,
    ingest,
    moves,
    repository,
    service,
    versions,
    versions_repository,
)
from tinymlaas.datasets.schemas import (
    DatasetCreate,
    DatasetUpdate,
    FolderCreate,
    FolderUpdate,
    IgnoredEntry,
    ImagesMove,
    ImageUpdate,
    OnConflict,
)
from tinymlaas.models import Dataset
from tinymlaas.training import repository as training_repository
from tinymlaas.web.auth import CsrfChecked, PageUser
from tinymlaas.web.forms import parse_form
from tinymlaas.web.paging import WindowDep, pager
from tinymlaas.web.rendering import PageRoute, back_url, redirect, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

IMAGES_PER_PAGE = 48


def get_page_dataset(dataset_id: int, page: PageUser, session: SessionDep) -> Dataset:
    return service.get_dataset(session, page.user, dataset_id)


PageDataset = Annotated[Dataset, Depends(get_page_dataset)]


def dataset_url(dataset: Dataset, folder: str | None = None) -> str:
    query = urlencode({"folder": folder}) if folder is not None else ""
    return f"/datasets/{dataset.id}" + (f"?{query}" if query else "")


@router.get("/datasets", response_class=HTMLResponse)
def list_datasets(
    request: Request, page: PageUser, session: SessionDep, window: WindowDep
) -> Response:
    """The user's datasets with their counts and sizes, a page at a time."""
    rows, total = repository.list_datasets(session, page.user.id, window.offset, window.limit)
    return render(
        request,
        "datasets.html",
        {
            "user": page.user,
            "nav": "datasets",
            "datasets": service.describe(session, rows),
            "total": total,
            "pager": pager(window, total),
        },
    )


@router.post("/datasets", dependencies=[CsrfChecked])
def create_dataset(
    page: PageUser,
    session: SessionDep,
    name: Annotated[str, Form()],
    description: Annotated[str, Form()] = "",
) -> Response:
    """Create an empty dataset and open it."""
    fields = parse_form(DatasetCreate, {"name": name, "description": description})
    dataset = service.create_dataset(session, page.user, fields.name, fields.description)
    return redirect(f"/datasets/{dataset.id}", f"Created dataset '{dataset.name}'.")


@router.post("/datasets/import", dependencies=[CsrfChecked])
def import_dataset(
    page: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File()],
    name: Annotated[str, Form()],
    description: Annotated[str, Form()] = "",
) -> Response:
    """Create a dataset from a zip (the page uploads it with a progress bar; JSON answer)."""
    dataset = service.import_dataset(
        session,
        DatabaseBlobStore(session),
        page.user,
        parse_form(DatasetCreate, {"name": name, "description": description}),
        ingest.Upload(file.filename or "upload.zip", file.file),
        settings,
    )
    response = JSONResponse({"id": dataset.id, "redirect": f"/datasets/{dataset.id}"})
    message = f"Imported {dataset.image_count} images into '{dataset.name}'."
    return _with_flash(response, message + _skipped(dataset.ignored))


def _skipped(ignored: list[IgnoredEntry]) -> str:
    """ " Skipped 1 documentation file: LICENSE.txt." (or nothing when none was skipped)."""
    if not ignored:
        return ""
    names = ", ".join(item.entry for item in ignored[:5])
    more = f" and {len(ignored) - 5} more" if len(ignored) > 5 else ""
    noun = "file" if len(ignored) == 1 else "files"
    return f" Skipped {len(ignored)} documentation {noun}: {names}{more}."


def _with_flash(response: Response, message: str) -> Response:
    """Leave a message for the page the script navigates to next."""
    carrier = redirect("/", message)
    cookie = carrier.headers.get("set-cookie")
    if cookie:
        response.headers.append("set-cookie", cookie)
    return response


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def show_dataset(
    request: Request,
    dataset: PageDataset,
    page: PageUser,
    session: SessionDep,
    folder: str | None = None,
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
) -> Response:
    """Folders with counts, a paged thumbnail grid and every action on the dataset."""
    if folder is not None:
        folder = service.folder_or_error(folder)
    folders = service.list_folders(session, dataset)
    images, total = repository.list_images(
        session,
        dataset.id,
        folder=folder,
        label=None,
        split=None,
        offset=(page_number - 1) * IMAGES_PER_PAGE,
        limit=IMAGES_PER_PAGE,
    )
    pages = max(1, -(-total // IMAGES_PER_PAGE))
    described = service.describe(session, [dataset])[0]
    in_folders = sum(entry.total_image_count for entry in folders if "/" not in entry.path)
    models, _ = training_repository.list_owned(session, page.user.id, dataset.id, 0, 5)
    version_rows, version_total = versions_repository.list_versions(session, dataset.id, 0, 20)
    return render(
        request,
        "dataset.html",
        {
            "user": page.user,
            "nav": "datasets",
            "dataset": described,
            "folders": folders,
            "top_folder_count": described.image_count - in_folders,
            "folder": folder,
            "images": images,
            "image_total": total,
            "page_number": page_number,
            "pages": pages,
            "models": models,
            "versions": versions.describe(session, version_rows),
            "version_total": version_total,
            "page_url": lambda number: (
                dataset_url(dataset, folder)
                + ("&" if folder is not None else "?")
                + f"page={number}"
            ),
        },
    )


@router.post("/datasets/{dataset_id}/rename", dependencies=[CsrfChecked])
def rename_dataset(
    dataset: PageDataset,
    session: SessionDep,
    name: Annotated[str, Form()],
    description: Annotated[str, Form()] = "",
) -> Response:
    """Rename a dataset and change its description."""
    changes = parse_form(DatasetUpdate, {"name": name, "description": description})
    service.update_dataset(session, dataset, changes)
    return redirect(dataset_url(dataset), "Saved the dataset's name and description.")


@router.post("/datasets/{dataset_id}/delete", dependencies=[CsrfChecked])
def delete_dataset(dataset: PageDataset, session: SessionDep) -> Response:
    """Delete a dataset with all its images."""
    name = dataset.name
    service.delete_dataset(session, DatabaseBlobStore(session), dataset)
    return redirect("/datasets", f"Deleted dataset '{name}'.")


@router.get("/datasets/{dataset_id}/export")
def export_dataset(dataset: PageDataset, request: Request) -> StreamingResponse:
    """Download the dataset as a zip, streamed."""
    return export.download_response(request.app.state.session_factory, dataset.id, dataset.name)


@router.get("/datasets/{dataset_id}/images/{image_id}/thumbnail")
def image_thumbnail(image_id: int, dataset: PageDataset, session: SessionDep) -> Response:
    """A small JPEG preview for the grid."""
    image = service.get_image(session, dataset, image_id)
    data = service.thumbnail(session, DatabaseBlobStore(session), image)
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"}
    )


@router.get("/datasets/{dataset_id}/images/{image_id}/content")
def image_content(image_id: int, dataset: PageDataset, session: SessionDep) -> Response:
    """The original image, to view it full size."""
    image = service.get_image(session, dataset, image_id)
    return Response(
        DatabaseBlobStore(session).get(image.sha256),
        media_type=service.content_type(image),
        headers={"Cache-Control": "private, max-age=86400"},
    )


@router.post("/datasets/{dataset_id}/images", dependencies=[CsrfChecked])
def add_images(
    dataset: PageDataset,
    session: SessionDep,
    settings: SettingsDep,
    files: Annotated[list[UploadFile], File()],
    folder: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    """Add images or zips to a folder, all or nothing (uploaded by the page's script)."""
    uploads = [ingest.Upload(upload.filename or "", upload.file) for upload in files]
    result = service.add_images(
        session, DatabaseBlobStore(session), dataset, uploads, folder, settings
    )
    response = JSONResponse(
        {"redirect": dataset_url(dataset, result.folder), "added": result.added}
    )
    where = f"'{folder}'" if folder else "the top folder"
    message = f"Added {result.added} images to {where}."
    return _with_flash(response, message + _skipped(result.dataset.ignored))


@router.post("/datasets/{dataset_id}/images/move", dependencies=[CsrfChecked])
def move_images(
    request: Request,
    dataset: PageDataset,
    session: SessionDep,
    folder: Annotated[str, Form(max_length=512)] = "",
    image_ids: Annotated[list[int], Form(alias="image_id")] = [],  # noqa: B006 - FastAPI default
    on_conflict: Annotated[str, Form()] = OnConflict.RENAME,
) -> Response:
    """Move the selected images to another folder (relabelling them), all or nothing.

    A name the folder already holds gets a number (`000 (2).jpg`) unless the form says to stop.
    """
    images = service.get_images(session, dataset, image_ids)
    fields = parse_form(
        ImagesMove, {"image_ids": image_ids, "folder": folder, "on_conflict": on_conflict}
    )
    moved = moves.move_images(session, dataset, images, fields.folder, fields.on_conflict)
    target = service.folder_or_error(fields.folder)
    where = f"'{target}'" if target else "the top folder"
    noun = "image" if len(images) == 1 else "images"
    message = f"Moved {len(images)} {noun} to {where}."
    if moved.renamed:
        shown = ", ".join(moved.renamed[:5]) + (", …" if len(moved.renamed) > 5 else "")
        message += f" Renamed {len(moved.renamed)} to keep names unique: {shown}."
    return redirect(_return_to(request, dataset), message)


@router.get("/datasets/{dataset_id}/images/{image_id}", response_class=HTMLResponse)
def show_image(
    request: Request, image_id: int, dataset: PageDataset, page: PageUser, session: SessionDep
) -> Response:
    """One image at full size, with its details and a form to rename it."""
    image = service.get_image(session, dataset, image_id)
    return render(
        request,
        "image.html",
        {
            "user": page.user,
            "nav": "datasets",
            "dataset": dataset,
            "image": image,
            "folder_url": dataset_url(dataset, image.folder),
        },
    )


@router.post("/datasets/{dataset_id}/images/{image_id}/rename", dependencies=[CsrfChecked])
def rename_image(
    image_id: int, dataset: PageDataset, session: SessionDep, name: Annotated[str, Form()]
) -> Response:
    """Rename an image in its folder; a name that is taken is refused (the user chose it)."""
    image = service.get_image(session, dataset, image_id)
    old = image.path
    fields = parse_form(ImageUpdate, {"name": name})
    moves.move_image(session, dataset, image, None, fields.name, OnConflict.FAIL)
    page_url = f"/datasets/{dataset.id}/images/{image.id}"
    return redirect(page_url, f"Renamed '{old}' to '{image.path}'.")


@router.post("/datasets/{dataset_id}/images/delete", dependencies=[CsrfChecked])
def delete_images(
    request: Request,
    dataset: PageDataset,
    session: SessionDep,
    image_ids: Annotated[list[int], Form(alias="image_id")] = [],  # noqa: B006 - FastAPI default
) -> Response:
    """Delete the selected images."""
    images = service.get_images(session, dataset, image_ids)
    blobs = DatabaseBlobStore(session)
    for image in images:
        service.delete_image(session, blobs, dataset, image)
    noun = "image" if len(images) == 1 else "images"
    return redirect(_return_to(request, dataset), f"Deleted {len(images)} {noun}.")


def _return_to(request: Request, dataset: Dataset) -> str:
    return back_url(request, dataset_url(dataset))


@router.post("/datasets/{dataset_id}/folders", dependencies=[CsrfChecked])
def create_folder(
    dataset: PageDataset, session: SessionDep, path: Annotated[str, Form()]
) -> Response:
    """Create a folder (and its missing parents)."""
    fields = parse_form(FolderCreate, {"path": path})
    created = service.create_folder(session, dataset, fields.path)
    return redirect(dataset_url(dataset, created.path), f"Created folder '{created.path}'.")


@router.post("/datasets/{dataset_id}/folders/rename", dependencies=[CsrfChecked])
def rename_folder(
    dataset: PageDataset,
    session: SessionDep,
    path: Annotated[str, Form(max_length=512)],
    new_path: Annotated[str, Form()],
) -> Response:
    """Rename or move a folder with everything in it."""
    old = service.get_folder(session, dataset, path)
    fields = parse_form(FolderUpdate, {"path": new_path})
    renamed = service.rename_folder(session, dataset, old, fields.path)
    return redirect(
        dataset_url(dataset, renamed.path), f"Renamed folder '{old}' to '{renamed.path}'."
    )


@router.post("/datasets/{dataset_id}/folders/delete", dependencies=[CsrfChecked])
def delete_folder(
    dataset: PageDataset,
    session: SessionDep,
    path: Annotated[str, Form(max_length=512)],
    recursive: Annotated[bool, Form()] = False,
) -> Response:
    """Delete a folder; one with images needs the 'and everything in it' box ticked."""
    folder = service.get_folder(session, dataset, path)
    service.delete_folder(session, DatabaseBlobStore(session), dataset, folder, recursive=recursive)
    return redirect(dataset_url(dataset), f"Deleted folder '{folder}'.")
