"""The web framework's side of the error family: one handler per error kind, mapped to JSON."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tinymlaas.errors import TinyMLaaSError


def install_error_handlers(app: FastAPI) -> None:
    """Map the error family, and a lost database connection, to JSON responses."""

    @app.exception_handler(TinyMLaaSError)
    async def handle_tinymlaas_error(request: Request, exc: TinyMLaaSError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
        extra = dict(exc.extra)
        if "retry_after" in extra:
            headers["Retry-After"] = str(extra["retry_after"])
        return JSONResponse(
            {"detail": exc.detail, **extra}, status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(IntegrityError)
    async def handle_integrity_error(request: Request, exc: IntegrityError) -> JSONResponse:
        # Rules are checked before writing; this is another request winning a race for a name.
        return JSONResponse(
            {"detail": "a concurrent change took the same name or path; reload and try again"},
            status_code=409,
        )

    @app.exception_handler(PoolTimeout)
    async def handle_pool_timeout(request: Request, exc: PoolTimeout) -> JSONResponse:
        return JSONResponse(
            {"detail": "the server is too busy to reach the database; try again shortly"},
            status_code=503,
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(DataError)
    async def handle_data_error(request: Request, exc: DataError) -> JSONResponse:
        # Inputs are validated before they reach the database; this is the net under that.
        first_line = str(exc.orig).splitlines()[0] if exc.orig else "invalid value"
        return JSONResponse({"detail": f"a value was refused: {first_line}"}, status_code=400)

    @app.exception_handler(DBAPIError)
    async def handle_database_down(request: Request, exc: DBAPIError) -> JSONResponse:
        if _is_transient_conflict(exc):
            return JSONResponse(
                {"detail": "the database gave way to a concurrent change; try again"},
                status_code=503,
                headers={"Retry-After": "1"},
            )
        # Operational errors are the database's state (down, restarting, out of connections),
        # not the request's fault: the same request succeeds once it is back.
        if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
            return JSONResponse(
                {"detail": "the database is unavailable; try again shortly"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        raise exc


def _is_transient_conflict(exc: DBAPIError) -> bool:
    """Deadlocks and serialization failures: the same request succeeds when retried."""
    code = getattr(exc.orig, "sqlstate", None) or ""
    if code in ("40001", "40P01"):
        return True
    args: tuple[object, ...] = tuple(getattr(exc.orig, "args", ()))
    return bool(args) and args[0] in (1205, 1213)  # MariaDB lock wait timeout, deadlock
