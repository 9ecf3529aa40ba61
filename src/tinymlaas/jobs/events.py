"""A database-backed event stream: works whichever process or machine wrote the events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from sqlalchemy.orm import Session, sessionmaker
from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from tinymlaas.enums import FINISHED_STATUSES
from tinymlaas.jobs import repository
from tinymlaas.models import Job

# How long a stream has, once the server is stopping, to end its response properly.
SHUTDOWN_GRACE_SECONDS = 5.0


async def pause(stopping: anyio.Event, seconds: float) -> None:
    """Sleep between polls, waking at once when the server starts shutting down."""
    with anyio.move_on_after(seconds):
        await stopping.wait()


def stream_response(
    make_stream: Callable[[anyio.Event], AsyncIterator[ServerSentEvent]],
) -> EventSourceResponse:
    """An SSE response whose stream ends by itself when the server shuts down.

    sse-starlette sets `stopping` on shutdown; the stream returns at its next poll and the
    response ends with its final empty body, instead of being cancelled mid-response (which
    uvicorn logs as an ASGI error).
    """
    stopping = anyio.Event()
    return EventSourceResponse(
        make_stream(stopping),
        ping=15,
        shutdown_event=stopping,
        shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
    )


def job_event_stream(
    request: Request,
    factory: sessionmaker[Session],
    job_id: int,
    after_id: int,
    poll_seconds: float,
    stopping: anyio.Event,
) -> AsyncIterator[ServerSentEvent]:
    """Yield the job's events from `after_id` on; ends after the final state is sent."""

    def fetch(after: int) -> tuple[list[tuple[int, str, dict[str, Any]]], bool]:
        with factory() as session:
            events = repository.events_after(session, job_id, after)
            job = session.get(Job, job_id)
            finished = job is None or job.status in FINISHED_STATUSES
            return [(e.id, e.type, e.data) for e in events], finished

    return _poll(request, fetch, after_id, poll_seconds, stopping)


async def _poll(
    request: Request,
    fetch: Callable[[int], tuple[list[tuple[int, str, dict[str, Any]]], bool]],
    after_id: int,
    poll_seconds: float,
    stopping: anyio.Event,
) -> AsyncIterator[ServerSentEvent]:
    last = after_id
    while not stopping.is_set():
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
            await pause(stopping, poll_seconds)


def job_event_response(
    request: Request, job_id: int, after_id: int, poll_seconds: float
) -> EventSourceResponse:
    """The job's event stream as an SSE response (for the API and the pages alike)."""
    return stream_response(
        lambda stopping: job_event_stream(
            request, request.app.state.session_factory, job_id, after_id, poll_seconds, stopping
        )
    )
