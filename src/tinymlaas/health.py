from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tinymlaas import __version__
from tinymlaas.config import Settings
from tinymlaas.db.base import utcnow
from tinymlaas.jobs import repository
from tinymlaas.jobs.runner import TASKS

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/health", operation_id="health")
async def health(request: Request) -> JSONResponse:
    """Liveness, database status and the job queue (counts only); needs no authentication.

    It runs in threads of its own (not the request pool, and outside the limit on requests in
    flight), so it answers while every request slot is busy.
    """
    state = request.app.state
    if not hasattr(state, "health_threads"):
        state.health_threads = anyio.CapacityLimiter(2)
    try:
        jobs = await anyio.to_thread.run_sync(
            _check, state.engine, state.settings, limiter=state.health_threads
        )
    except SQLAlchemyError as exc:
        message = str(exc.__cause__ or exc).splitlines()[0]
        return JSONResponse(
            {
                "status": "unavailable",
                "database": f"unavailable: {message}",
                "version": __version__,
            },
            status_code=503,
        )
    backend = request.app.state.engine.dialect.name
    return JSONResponse(
        {"status": "ok", "database": "ok", "backend": backend, "version": __version__, "jobs": jobs}
    )


def _check(engine: Engine, settings: Settings) -> dict[str, Any] | None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        return job_queue(connection, settings)


def job_queue(connection: Connection, settings: Settings) -> dict[str, Any] | None:
    """Queued training and compiling jobs: how many, how many no worker has taken within
    TINYMLAAS_JOB_UNCLAIMED_ALERT_SECONDS, the longest wait; None when it cannot be read
    (a database without the schema yet), which leaves the database's own status alone."""
    now = utcnow()
    alert_seconds = settings.job_unclaimed_alert_seconds
    try:
        with Session(bind=connection) as session:
            queued, unclaimed, oldest = repository.queue_summary(
                session, TASKS, now - timedelta(seconds=alert_seconds)
            )
    except SQLAlchemyError as exc:
        log.warning("health could not read the job queue: %s", exc)
        return None
    return {
        "queued": queued,
        "unclaimed": unclaimed,
        "oldest_wait_seconds": round((now - oldest).total_seconds(), 1) if oldest else None,
        "unclaimed_alert_seconds": alert_seconds,
    }
