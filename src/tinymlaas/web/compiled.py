"""Compiled-model pages: the list, a result with fit bars and accuracies, file downloads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from tinymlaas.auth.dependencies import SessionDep
from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.compiling import repository, service
from tinymlaas.enums import ACTIVE_STATUSES
from tinymlaas.hardware.boards import BOARDS
from tinymlaas.jobs import service as jobs
from tinymlaas.models import CompiledModel, TrainedModel
from tinymlaas.training import repository as training_repository
from tinymlaas.web.auth import CsrfChecked, PageUser
from tinymlaas.web.device_tests import device_test_context
from tinymlaas.web.paging import WindowDep, pager
from tinymlaas.web.rendering import PageRoute, redirect, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def get_page_compiled(compiled_id: int, page: PageUser, session: SessionDep) -> CompiledModel:
    return service.get_compiled(session, page.user, compiled_id)


PageCompiled = Annotated[CompiledModel, Depends(get_page_compiled)]


@router.get("/compiled", response_class=HTMLResponse)
def list_compiled(
    request: Request, page: PageUser, session: SessionDep, window: WindowDep
) -> Response:
    """The user's compiled models with their board and fit verdict, a page at a time."""
    rows, total = repository.list_owned(session, page.user.id, None, window.offset, window.limit)
    model_ids = {row.model_id for row in rows}
    return render(
        request,
        "compiled_list.html",
        {
            "user": page.user,
            "nav": "compiled",
            "compiled": rows,
            "total": total,
            "pager": pager(window, total),
            "model_names": training_repository.names_by_id(session, page.user.id, model_ids),
            "boards": BOARDS,
        },
    )


@router.get("/compiled/{compiled_id}", response_class=HTMLResponse)
def show_compiled(
    request: Request, compiled: PageCompiled, page: PageUser, session: SessionDep
) -> Response:
    """RAM and flash against the board, the fit verdict, accuracies and the files."""
    job = None
    if compiled.job_id is not None:
        job = jobs.describe(session, [jobs.get_job(session, page.user, compiled.job_id)])[0]
    model = training_repository.get_owned(session, page.user.id, compiled.model_id)
    return render(
        request,
        "compiled.html",
        {
            "user": page.user,
            "nav": "compiled",
            "compiled": compiled,
            "job": job,
            "active": compiled.status in ACTIVE_STATUSES,
            "model": model,
            "board": BOARDS.get(compiled.board),
            "files": repository.files(session, compiled.id),
            "held_out_name": _held_out_name(model),
            **device_test_context(session, page.user, compiled),
        },
    )


def _held_out_name(model: TrainedModel | None) -> str:
    """Which images compiling measured on: the model's test split if it has one."""
    metrics = model.metrics if model is not None else None
    return "test" if metrics and metrics.get("evaluated_on") == "test" else "validation"


@router.get("/compiled/{compiled_id}/files/{name}")
def download_file(name: str, compiled: PageCompiled, session: SessionDep) -> Response:
    """Download one file of a compiled model."""
    found = service.get_file(session, compiled, name)
    return Response(
        DatabaseBlobStore(session).get(found.sha256),
        media_type=found.content_type,
        headers={"Content-Disposition": f'attachment; filename="{found.name}"'},
    )


@router.post("/compiled/{compiled_id}/delete", dependencies=[CsrfChecked])
def delete_compiled(compiled: PageCompiled, session: SessionDep) -> Response:
    """Delete a compiled model and its files."""
    model_id = compiled.model_id
    service.delete_compiled(session, DatabaseBlobStore(session), compiled)
    return redirect(f"/models/{model_id}", "Deleted the compiled version.")
