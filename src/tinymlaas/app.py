"""create_app(): the API routers, error handlers and request limits in one FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from tinymlaas import __version__
from tinymlaas.auth.router import router as auth_router
from tinymlaas.bootstrap import prepare_database, resolve_secret_key
from tinymlaas.config import Settings
from tinymlaas.datasets.router import router as datasets_router
from tinymlaas.db.session import make_engine, make_session_factory
from tinymlaas.errors import install_error_handlers
from tinymlaas.health import router as health_router
from tinymlaas.limits import BodySizeLimitMiddleware

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None, *, prepare: bool = True) -> FastAPI:
    """Build the app; with `prepare`, migrations and the first admin happen at startup."""
    settings = settings or Settings()
    secret_key = resolve_secret_key(settings)
    engine = make_engine(settings.resolved_database_url)
    factory = make_session_factory(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if prepare:
            generated = prepare_database(engine, factory, settings)
            if generated:
                print(  # noqa: T201 - shown once, on purpose, to the person starting the server
                    f"Created administrator '{settings.admin_username}'"
                    f" with password: {generated}\n"
                    "Store it now: it is not shown again.",
                    flush=True,
                )
        yield
        engine.dispose()

    app = FastAPI(
        title="TinyMLaaS",
        version=__version__,
        description="Datasets, training, compiling and deploying TinyML models.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.secret_key = secret_key
    app.state.engine = engine
    app.state.session_factory = factory

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(health_router)
    api.include_router(auth_router)
    api.include_router(datasets_router)
    app.include_router(api)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    return app
