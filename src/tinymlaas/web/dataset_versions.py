"""Dataset version pages: the dataset page's Versions panel posts here; a version's page,
its export and the diff of two versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse

from tinymlaas.auth.dependencies import SessionDep
from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.datasets import export, service, versions
from tinymlaas.datasets import versions_repository as repository
from tinymlaas.datasets.version_schemas import VersionCreate
from tinymlaas.models import DatasetVersion
from tinymlaas.params import MAX_ID
from tinymlaas.web.auth import CsrfChecked, PageUser
from tinymlaas.web.datasets import PageDataset, dataset_url
from tinymlaas.web.forms import parse_form
from tinymlaas.web.rendering import PageRoute, redirect, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def get_page_version(version_id: int, page: PageUser, session: SessionDep) -> DatasetVersion:
    return versions.get_owned_version(session, page.user, version_id)


PageVersion = Annotated[DatasetVersion, Depends(get_page_version)]


@router.post("/datasets/{dataset_id}/versions", dependencies=[CsrfChecked])
def create_version(
    dataset: PageDataset, session: SessionDep, note: Annotated[str, Form()] = ""
) -> Response:
    """Snapshot the dataset as its next version."""
    fields = parse_form(VersionCreate, {"note": note})
    version = versions.create_version(session, dataset, fields.note)
    return redirect(dataset_url(dataset) + "#versions", f"Created version {version.number}.")


@router.get("/dataset-versions/{version_id}", response_class=HTMLResponse)
def show_version(
    request: Request, version: PageVersion, page: PageUser, session: SessionDep
) -> Response:
    """A version: its counts, the models that learnt from it, its export and diffs."""
    others = []
    if version.dataset_id is not None:
        rows, _ = repository.list_versions(session, version.dataset_id, 0, 1000)
        others = [row.number for row in rows if row.number != version.number]
    return render(
        request,
        "version.html",
        {
            "user": page.user,
            "nav": "datasets",
            "version": versions.describe(session, [version])[0],
            "others": others,
        },
    )


@router.get("/dataset-versions/{version_id}/export")
def export_version(version: PageVersion, request: Request) -> StreamingResponse:
    """Download the version as a zip, streamed."""
    size, chunks = export.version_zip_stream(request.app.state.session_factory, version.id)
    return export.zip_response(size, chunks, f"{version.dataset_name}-v{version.number}.zip")


@router.post("/dataset-versions/{version_id}/delete", dependencies=[CsrfChecked])
def delete_version(version: PageVersion, page: PageUser, session: SessionDep) -> Response:
    """Delete a version no model learnt from."""
    if version.dataset_id is None:
        return redirect("/datasets", "This version is kept for the models that learnt from it.")
    dataset = service.get_dataset(session, page.user, version.dataset_id, for_update=True)
    number = version.number
    versions.delete_version(session, DatabaseBlobStore(session), dataset, version)
    return redirect(dataset_url(dataset) + "#versions", f"Deleted version {number}.")


@router.get("/datasets/{dataset_id}/versions/diff", response_class=HTMLResponse)
def diff_versions(
    request: Request,
    dataset: PageDataset,
    page: PageUser,
    session: SessionDep,
    from_number: Annotated[int, Query(alias="from", ge=1, le=MAX_ID)],
    to: Annotated[str, Query(max_length=12)] = "",
) -> Response:
    """What changed between two versions (or since one: `to` empty), per label."""
    to_number = int(to) if to.strip().isdigit() else None
    found = versions.diff(session, dataset, from_number, to_number)
    return render(
        request,
        "version_diff.html",
        {"user": page.user, "nav": "datasets", "dataset": dataset, "diff": found},
    )
