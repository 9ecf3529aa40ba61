from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from tinymlaas import __version__

router = APIRouter(tags=["health"])


@router.get("/health", operation_id="health")
def health(request: Request) -> JSONResponse:
    """Liveness and database status; needs no authentication."""
    try:
        with request.app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
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
        {"status": "ok", "database": "ok", "backend": backend, "version": __version__}
    )
