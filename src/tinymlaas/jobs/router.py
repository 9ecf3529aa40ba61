from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from sqlalchemy import Connection
from sse_starlette.sse import EventSourceResponse

from tinymlaas.auth.dependencies import CurrentUser, ReaderDep, SessionDep, SettingsDep
from tinymlaas.enums import JobStatus
from tinymlaas.jobs import repository, service
from tinymlaas.jobs.events import job_event_response
from tinymlaas.jobs.schemas import JobRead
from tinymlaas.models import Job
from tinymlaas.params import Id, Limit, Offset
from tinymlaas.schemas import Page

router = APIRouter(prefix="/jobs", tags=["jobs"])


def get_job(job_id: Id, session: SessionDep, user: CurrentUser) -> Job:
    return service.get_job(session, user, job_id)


JobDep = Annotated[Job, Depends(get_job)]


@router.get("", operation_id="list_jobs", response_model=Page[JobRead])
async def list_jobs(
    reader: ReaderDep,
    status: JobStatus | None = None,
    offset: Offset = 0,
    limit: Limit = 100,
) -> Response:
    """The user's jobs, newest first, optionally filtered by status."""

    def page(connection: Connection) -> Page[JobRead]:
        owner = reader.user
        rows, total = repository.list_owned_rows(connection, owner.id, status, offset, limit)
        return Page[JobRead](items=service.describe(connection, rows, owner), total=total)

    return await reader.answer_rows(page)


@router.get("/{job_id}", operation_id="get_job", response_model=JobRead)
async def read_job(job_id: Id, reader: ReaderDep) -> Response:
    """One job's status and progress."""

    return await reader.answer_rows(
        lambda connection: service.read_job(connection, reader.user, job_id)
    )


@router.post("/{job_id}/cancel", operation_id="cancel_job", response_model=JobRead)
def cancel_job(job: JobDep, session: SessionDep) -> JobRead:
    """Cancel a queued job, or ask a running one to stop.

    A training stops at its next batch; an install when the bridge has stopped its installer.
    """
    return service.describe(session, [service.cancel(session, job)])[0]


@router.get(
    "/{job_id}/events",
    operation_id="job_events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def job_events(
    job: JobDep,
    request: Request,
    settings: SettingsDep,
    last_event_id: Annotated[int | None, Header()] = None,
    after: Annotated[int, Query(ge=0, description="resume after this event id")] = 0,
) -> EventSourceResponse:
    """Server-Sent Events: state changes, progress, per-epoch metrics, then the final state."""
    after_id = last_event_id if last_event_id is not None else after
    return job_event_response(request, job.id, after_id, settings.job_poll_seconds)
