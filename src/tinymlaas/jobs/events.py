"""A database-backed event stream: works whichever process or machine wrote the events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from tinymlaas.enums import FINISHED_STATUSES
from tinymlaas.jobs import repository
from tinymlaas.models import Job


def job_event_stream(
    request: Request,
    factory: sessionmaker[Session],
    job_id: int,
    after_id: int,
    poll_seconds: float,
) -> AsyncIterator[ServerSentEvent]:
    """Yield the job's events from `after_id` on; ends after the final state is sent."""

    def fetch(after: int) -> tuple[list[tuple[int, str, dict[str, Any]]], bool]:
        with factory() as session:
            events = repository.events_after(session, job_id, after)
            job = session.get(Job, job_id)
            finished = job is None or job.status in FINISHED_STATUSES
            return [(e.id, e.type, e.data) for e in events], finished

    return _poll(request, fetch, after_id, poll_seconds)


async def _poll(
    request: Request,
    fetch: Callable[[int], tuple[list[tuple[int, str, dict[str, Any]]], bool]],
    after_id: int,
    poll_seconds: float,
) -> AsyncIterator[ServerSentEvent]:
    last = after_id
    while True:
        events, finished = await run_in_threadpool(fetch, last)
        for event_id, type_, data in events:
            last = event_id
            yield ServerSentEvent(data=json.dumps(data), event=type_, id=str(event_id))
        # Finished and nothing new after the final read: the stream is complete.
        if finished and not events:
            return
        if await request.is_disconnected():
            return
        if not events:
            await asyncio.sleep(poll_seconds)


def job_event_response(
    request: Request, job_id: int, after_id: int, poll_seconds: float
) -> EventSourceResponse:
    """The job's event stream as an SSE response (for the API and the pages alike)."""
    stream = job_event_stream(
        request, request.app.state.session_factory, job_id, after_id, poll_seconds
    )
    return EventSourceResponse(stream, ping=15)
