"""Search pages: start a search, watch its candidates, its Pareto front against the board's
limits, and compile or install a candidate in one click."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse

from tinymlaas.auth.dependencies import SessionDep, SettingsDep
from tinymlaas.datasets import repository as datasets_repository
from tinymlaas.devices import deploys
from tinymlaas.devices import repository as devices_repository
from tinymlaas.enums import JobStatus
from tinymlaas.hardware.boards import BOARDS
from tinymlaas.models import Search
from tinymlaas.search import repository, service
from tinymlaas.search.schemas import SearchCreate
from tinymlaas.web.auth import CsrfChecked, PageUser
from tinymlaas.web.forms import parse_form
from tinymlaas.web.paging import WindowDep, pager
from tinymlaas.web.rendering import PageRoute, redirect, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def get_page_search(search_id: int, page: PageUser, session: SessionDep) -> Search:
    return service.get_search(session, page.user, search_id)


PageSearch = Annotated[Search, Depends(get_page_search)]


@router.get("/searches", response_class=HTMLResponse)
def list_searches(
    request: Request, page: PageUser, session: SessionDep, window: WindowDep
) -> Response:
    """The start form (dataset, board, engine, budget, objective) and the user's searches."""
    rows, total = repository.list_owned(session, page.user.id, window.offset, window.limit)
    return render(
        request,
        "searches.html",
        {
            "user": page.user,
            "nav": "searches",
            "searches": service.list_summaries(session, rows),
            "total": total,
            "pager": pager(window, total),
            "datasets": datasets_repository.all_datasets(session, page.user.id),
            "boards": [board for board in BOARDS.values() if board.id != "virtual"],
        },
    )


@router.post("/searches", dependencies=[CsrfChecked])
def start_search(
    page: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    name: Annotated[str, Form()],
    dataset_id: Annotated[int, Form()],
    board: Annotated[str, Form()],
    engine: Annotated[str, Form()] = "tflm",
    time_budget_minutes: Annotated[float, Form()] = 30,
    objective: Annotated[str, Form()] = "accuracy",
    max_latency_ms: Annotated[str, Form()] = "",
    weights: Annotated[str, Form()] = "none",
) -> Response:
    """Start a search and open its page."""
    values: dict[str, Any] = {
        "name": name,
        "dataset_id": dataset_id,
        "board": board,
        "engine": engine,
        "time_budget_minutes": time_budget_minutes,
        "objective": objective,
        "max_latency_ms": max_latency_ms.strip() or None,
        "weights": ["none", "imagenet"] if weights == "both" else weights,
    }
    search = service.create_search(session, page.user, parse_form(SearchCreate, values), settings)
    return redirect(f"/searches/{search.id}", f"Search '{search.name}' started.")


@router.get("/searches/{search_id}", response_class=HTMLResponse)
def show_search(
    request: Request, search: PageSearch, page: PageUser, session: SessionDep
) -> Response:
    """Candidates with their status, the Pareto front as a scatter, the recommendation."""
    described = service.describe(session, search)
    board = BOARDS.get(search.board)
    return render(
        request,
        "search.html",
        {
            "user": page.user,
            "nav": "searches",
            "search": described,
            "board": board,
            "active": described.status in (JobStatus.queued, JobStatus.running),
            "devices": [
                device
                for device in devices_repository.list_devices(session, page.user.id)
                if device.board == search.board
            ],
            "chart": {
                "candidates": [c.model_dump() for c in described.candidates],
                "front": described.pareto_front,
                "ram_limit": described.board_ram_bytes,
                "ram_margin_limit": described.ram_limit_bytes,
                "recommended": described.recommended_id,
            },
        },
    )


@router.post("/searches/{search_id}/candidates/{candidate_id}/deploy", dependencies=[CsrfChecked])
def deploy_candidate(
    candidate_id: int,
    search: PageSearch,
    page: PageUser,
    session: SessionDep,
    device_id: Annotated[str, Form()] = "",
) -> Response:
    """Compile the candidate (unless it is) and install it on the chosen device once compiled."""
    candidate = deploys.get_candidate(session, search, candidate_id)
    device = int(device_id) if device_id.strip().isdigit() else None
    accepted = deploys.deploy_candidate(session, page.user, search, candidate, device)
    if accepted.install_job_id is not None:
        return redirect(
            f"/devices/{device}", "Install queued: the bridge picks it up within a second."
        )
    if accepted.install_pending:
        return redirect(
            f"/searches/{search.id}", "Compiling: it is installed on the device when it is done."
        )
    return redirect(f"/compiled/{accepted.compiled_id}", "Compiling is queued.")
