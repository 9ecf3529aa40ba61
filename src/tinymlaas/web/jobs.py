"""Job pages: the list (refreshed live by its script), a job's page, its event stream and
cancelling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.orm import Session
from sse_starlette.sse import EventSourceResponse

from tinymlaas.auth.dependencies import SessionDep, SettingsDep
from tinymlaas.compiling import repository as compiling_repository
from tinymlaas.enums import ACTIVE_STATUSES
from tinymlaas.jobs import repository, service
from tinymlaas.jobs.events import job_event_response
from tinymlaas.models import Job, User
from tinymlaas.training import repository as training_repository
from tinymlaas.web.auth import CsrfChecked, PageUser
from tinymlaas.web.paging import Window, pager, window_of
from tinymlaas.web.rendering import PageRoute, back_url, redirect, render, wants_json

router = APIRouter(route_class=PageRoute, include_in_schema=False)

JOBS_SHOWN = 100
RESOURCE_PAGES = {
    "model": "/models",
    "compiled": "/compiled",
    "installation": "/devices",
    "device_test": "/compiled",
    "capture": "/devices",
    "search": "/searches",
}
# Where on the page the job's work shows.
RESOURCE_ANCHORS = {"device_test": "#device-test", "capture": "#capture"}

Link = tuple[str, str]  # (page, text)


def get_page_job(job_id: int, page: PageUser, session: SessionDep) -> Job:
    return service.get_job(session, page.user, job_id)


PageJob = Annotated[Job, Depends(get_page_job)]


@router.get("/jobs", response_class=HTMLResponse)
def list_jobs(
    request: Request,
    page: PageUser,
    session: SessionDep,
    window: Annotated[Window, Depends(window_of(JOBS_SHOWN))],
) -> Response:
    """The user's jobs, newest first, a page at a time (JSON for the page's live refresh)."""
    rows, total = repository.list_owned(session, page.user.id, None, window.offset, window.limit)
    described = service.describe(session, rows)
    if wants_json(request):
        return JSONResponse(
            {
                "items": [
                    {
                        "id": job.id,
                        "status": job.status,
                        "progress": job.progress,
                        "message": job.message,
                        "error": job.error,
                    }
                    for job in described
                ],
                "total": total,
            }
        )
    links = resource_links(session, page.user, rows)
    return render(
        request,
        "jobs.html",
        {
            "user": page.user,
            "nav": "jobs",
            "jobs": described,
            "total": total,
            "links": links,
            "pager": pager(window, total),
        },
    )


def resource_links(session: Session, user: User, rows: Sequence[Job]) -> dict[int, list[Link]]:
    """The pages of what each job works for: its model, compiled model, search, the device a
    capture reads, the report and device of a device test; for an install the device and the
    compiled model it installs. A few queries for the whole list."""
    resources = service.resources(session, rows)
    installed_ids = {r.installed_id for r in resources.values() if r.installed_id is not None}
    installed = compiling_repository.owned_by_id(session, user.id, installed_ids)
    model_names = training_repository.names_by_id(
        session, user.id, {compiled.model_id for compiled in installed.values()}
    )
    links: dict[int, list[Link]] = {}
    for job_id, resource in resources.items():
        page = f"{RESOURCE_PAGES[resource.kind]}/{resource.id}"
        links[job_id] = [(page + RESOURCE_ANCHORS.get(resource.kind, ""), resource.name)]
        if resource.device is not None:
            links[job_id].append((f"/devices/{resource.device[0]}", resource.device[1]))
        compiled = installed.get(resource.installed_id or 0)
        if compiled is not None:
            name = model_names.get(compiled.model_id, f"model #{compiled.model_id}")
            links[job_id].append((f"/compiled/{compiled.id}", f"{name} · {compiled.board}"))
    return links


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def show_job(request: Request, job: PageJob, page: PageUser, session: SessionDep) -> Response:
    """One job: kind, status, times, progress and message, live while it runs."""
    described = service.describe(session, [job], page.user)[0]
    return render(
        request,
        "job.html",
        {
            "user": page.user,
            "nav": "jobs",
            "job": described,
            "active": described.status in ACTIVE_STATUSES,
            "links": resource_links(session, page.user, [job]).get(job.id, []),
        },
    )


@router.get("/jobs/{job_id}/events")
def job_events(
    job: PageJob,
    request: Request,
    settings: SettingsDep,
    last_event_id: Annotated[int | None, Header()] = None,
    after: Annotated[int, Query(ge=0)] = 0,
) -> EventSourceResponse:
    """The job's Server-Sent Events for the page (the same stream as the API's)."""
    after_id = last_event_id if last_event_id is not None else after
    return job_event_response(request, job.id, after_id, settings.job_poll_seconds)


@router.post("/jobs/{job_id}/cancel", dependencies=[CsrfChecked])
def cancel_job(request: Request, job: PageJob, session: SessionDep) -> Response:
    """Cancel a queued job, or ask a running one to stop.

    A training stops at its next batch; an install when the bridge has stopped its installer.
    """
    service.cancel(session, job)
    if wants_json(request):
        return JSONResponse({"id": job.id, "status": job.status, "message": job.message})
    return redirect(back_url(request, "/jobs"), f"Asked job {job.id} to stop.")
