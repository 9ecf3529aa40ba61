"""Live observations of a device, read from the database whoever stored them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
from sqlalchemy.orm import Session, sessionmaker
from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from tinymlaas.devices import repository
from tinymlaas.devices.schemas import ObservationRead
from tinymlaas.jobs.events import pause, stream_response


async def observation_stream(
    request: Request,
    factory: sessionmaker[Session],
    device_id: int,
    after_id: int | None,
    poll_seconds: float,
    stopping: anyio.Event,
) -> AsyncIterator[ServerSentEvent]:
    """New observations from now on (or after `after_id` when resuming)."""

    def latest() -> int:
        with factory() as session:
            return repository.last_observation_id(session, device_id)

    def fetch(after: int) -> list[ObservationRead]:
        with factory() as session:
            rows = repository.observations_after(session, device_id, after)
            return [ObservationRead.model_validate(row, from_attributes=True) for row in rows]

    last = after_id if after_id is not None else await run_in_threadpool(latest)
    while not stopping.is_set() and not await request.is_disconnected():
        rows = await run_in_threadpool(fetch, last)
        for row in rows:
            last = row.id
            yield ServerSentEvent(
                data=json.dumps(row.model_dump(mode="json")), event="observation", id=str(row.id)
            )
        if not rows:
            await pause(stopping, poll_seconds)


def observation_response(
    request: Request, device_id: int, after_id: int | None, poll_seconds: float
) -> EventSourceResponse:
    """The device's live predictions as an SSE response (for the API and the pages alike)."""
    return stream_response(
        lambda stopping: observation_stream(
            request, request.app.state.session_factory, device_id, after_id, poll_seconds, stopping
        )
    )
