"""Model pages: the train form with its live fit estimate, the list, and a model's page."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse

from tinymlaas.auth.dependencies import SessionDep, SettingsDep
from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.compiling import repository as compiling_repository
from tinymlaas.compiling import service as compiling
from tinymlaas.compiling.schemas import CompileRequest
from tinymlaas.datasets import repository as datasets_repository
from tinymlaas.datasets import service as datasets
from tinymlaas.enums import ACTIVE_STATUSES
from tinymlaas.hardware.boards import BOARDS
from tinymlaas.jobs import service as jobs
from tinymlaas.models import TrainedModel
from tinymlaas.training import catalog, importing, repository, service, weights_service
from tinymlaas.training.schemas import ColorMode, ModelCreate
from tinymlaas.web.auth import CsrfChecked, PageUser
from tinymlaas.web.forms import parse_form
from tinymlaas.web.paging import WindowDep, pager
from tinymlaas.web.rendering import PageRoute, redirect, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)

DEFAULT_BOARD = "nano33ble"


def get_page_model(model_id: int, page: PageUser, session: SessionDep) -> TrainedModel:
    return service.get_model(session, page.user, model_id)


PageModel = Annotated[TrainedModel, Depends(get_page_model)]


@router.get("/models", response_class=HTMLResponse)
def list_models(
    request: Request, page: PageUser, session: SessionDep, window: WindowDep
) -> Response:
    """The user's models with their status and accuracy, a page at a time."""
    rows, total = repository.list_owned(session, page.user.id, None, window.offset, window.limit)
    dataset_ids = {row.dataset_id for row in rows if row.dataset_id is not None}
    return render(
        request,
        "models.html",
        {
            "user": page.user,
            "nav": "models",
            "models": rows,
            "total": total,
            "pager": pager(window, total),
            "dataset_names": datasets_repository.names_by_id(session, page.user.id, dataset_ids),
            "dataset_total": datasets_repository.count_datasets(session, page.user.id),
            "datasets": datasets_repository.all_datasets(session, page.user.id),
        },
    )


@router.post("/models/import", dependencies=[CsrfChecked])
def import_model(
    page: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File()],
    classes: Annotated[str, Form()],
    name: Annotated[str, Form()] = "",
    dataset_id: Annotated[str, Form()] = "",
) -> Response:
    """Import a model file (the same rules as POST /api/v1/models/import) and open its page."""
    request = importing.ImportRequest(
        name.strip() or None,
        importing.parse_classes(classes),
        int(dataset_id) if dataset_id.strip().isdigit() else None,
    )
    model = importing.import_model(
        session,
        DatabaseBlobStore(session),
        page.user,
        request,
        file.filename or "model",
        file.file,
        settings,
    )
    return redirect(f"/models/{model.id}", f"Imported '{model.name}'.")


@router.get("/models/new", response_class=HTMLResponse)
def new_model(
    request: Request,
    page: PageUser,
    session: SessionDep,
    dataset_id: int | None = None,
    base_model_id: int | None = None,
) -> Response:
    """The train form; with base_model_id it continues that model into a new version."""
    base = service.get_model(session, page.user, base_model_id) if base_model_id else None
    rows = datasets_repository.all_datasets(session, page.user.id)
    described = datasets.describe(session, rows)
    chosen = base.dataset_id if base else dataset_id
    return render(
        request,
        "model_new.html",
        {
            "user": page.user,
            "nav": "models",
            "datasets": described,
            "chosen_dataset": chosen,
            "architectures": list(catalog.ARCHITECTURES.values()),
            "boards": list(BOARDS.values()),
            "default_board": DEFAULT_BOARD,
            "base": base,
            "config": base.config.model_dump() if base else {},
            "bases": weights_service.list_bases(session, page.user, 0, 1000)[0],
        },
    )


@router.get("/models/estimate")
def estimate(
    page: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    architecture: str,
    alpha: float | None = None,
    input_width: Annotated[int, Query(ge=8, le=640)] = 96,
    input_height: Annotated[int, Query(ge=8, le=640)] = 96,
    color_mode: ColorMode = "grayscale",
    dataset_id: int | None = None,
    board: str = DEFAULT_BOARD,
) -> JSONResponse:
    """The train form's live verdict: the expected int8 footprint against the board."""
    classes = service.class_count(session, page.user, dataset_id)
    result = service.estimate(
        architecture, alpha, input_width, input_height, color_mode, classes, board
    )
    limits = BOARDS[board]
    imagenet = weights_service.imagenet_status(
        settings, result.architecture, result.alpha, input_width, input_height
    )
    return JSONResponse(
        {
            **result.model_dump(),
            "imagenet": imagenet.model_dump(),
            "classes": classes,
            "board_name": limits.name,
            "ram_limit_bytes": limits.ram_bytes,
            "flash_limit_bytes": limits.flash_bytes,
        }
    )


@router.post("/models", dependencies=[CsrfChecked])
def train_model(
    page: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    name: Annotated[str, Form()],
    dataset_id: Annotated[int, Form()],
    architecture: Annotated[str | None, Form()] = None,
    alpha: Annotated[float | None, Form()] = None,
    input_width: Annotated[int | None, Form()] = None,
    input_height: Annotated[int | None, Form()] = None,
    color_mode: Annotated[str | None, Form()] = None,
    epochs: Annotated[int, Form()] = 10,
    batch_size: Annotated[int, Form()] = 32,
    learning_rate: Annotated[float | None, Form()] = None,
    keep_epoch: Annotated[Literal["best", "last"], Form()] = "best",
    early_stopping_patience: Annotated[str, Form()] = "",
    flip: Annotated[bool, Form()] = False,
    rotation: Annotated[float, Form()] = 0.0,
    zoom: Annotated[float, Form()] = 0.0,
    brightness: Annotated[float, Form()] = 0.0,
    base_model_id: Annotated[int | None, Form()] = None,
    weights: Annotated[str, Form()] = "none",
) -> Response:
    """Queue a training job and open the new model's page to watch it. A continued model's
    form leaves out what its base fixes (architecture, α, input): the service takes them from
    the base."""
    fixed = {"architecture": architecture, "alpha": alpha, "color_mode": color_mode}
    fixed |= {"input_width": input_width, "input_height": input_height}
    values: dict[str, Any] = {key: value for key, value in fixed.items() if value is not None}
    values |= {
        "name": name,
        "dataset_id": dataset_id,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "restore_best_weights": keep_epoch == "best",
        "early_stopping_patience": early_stopping_patience.strip() or None,
        "base_model_id": base_model_id,
        "weights": weights,
    }
    if flip or rotation or zoom or brightness:
        values["augmentation"] = {
            "flip": flip,
            "rotation": rotation,
            "zoom": zoom,
            "brightness": brightness,
        }
    payload = parse_form(ModelCreate, values)
    model = service.create_model(session, page.user, payload, settings)
    return redirect(f"/models/{model.id}", f"Training of '{model.name}' is queued.")


@router.get("/models/{model_id}", response_class=HTMLResponse)
def show_model(request: Request, model: PageModel, page: PageUser, session: SessionDep) -> Response:
    """Live progress while training; then metrics, confusion matrix and compiling."""
    job = None
    if model.job_id is not None:
        job = jobs.describe(session, [jobs.get_job(session, page.user, model.job_id)])[0]
    dataset = None
    if model.dataset_id is not None:
        dataset = datasets_repository.get_dataset(session, page.user.id, model.dataset_id)
    compiled, _ = compiling_repository.list_owned(session, page.user.id, model.id, 0, 100)
    return render(
        request,
        "model.html",
        {
            "user": page.user,
            "nav": "models",
            "model": model,
            "job": job,
            "active": model.status in ACTIVE_STATUSES,
            "dataset": dataset,
            "compiled": compiled,
            "continued_by": repository.continued_by(session, page.user.id, model.id),
            "boards": list(BOARDS.values()),
            "default_board": DEFAULT_BOARD,
            "architecture": catalog.ARCHITECTURES.get(model.config.architecture),
        },
    )


@router.post("/models/{model_id}/compile", dependencies=[CsrfChecked])
def compile_model(
    model: PageModel,
    page: PageUser,
    session: SessionDep,
    board: Annotated[str, Form()],
    quantization: Annotated[str, Form()] = "int8",
    engine: Annotated[str, Form()] = "tflm",
) -> Response:
    """Queue compiling the model for a board and open the result page."""
    fields = {"board": board, "quantization": quantization, "engine": engine}
    payload = parse_form(CompileRequest, fields)
    compiled = compiling.create_compiled(session, page.user, model, payload)
    return redirect(f"/compiled/{compiled.id}", "Compiling is queued.")


@router.post("/models/{model_id}/delete", dependencies=[CsrfChecked])
def delete_model(model: PageModel, session: SessionDep) -> Response:
    """Delete a model and its compiled versions."""
    name = model.name
    service.delete_model(session, DatabaseBlobStore(session), model)
    return redirect("/models", f"Deleted model '{name}'.")
