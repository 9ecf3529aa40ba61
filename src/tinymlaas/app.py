"""create_app(): the API routers, error handlers and request limits in one FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from tinymlaas import __version__
from tinymlaas.auth.dependencies import RecentTokens
from tinymlaas.auth.router import router as auth_router
from tinymlaas.bootstrap import prepare_database, resolve_secret_key
from tinymlaas.compiling.router import router as compiling_router
from tinymlaas.config import Settings
from tinymlaas.datasets.review_router import router as review_router
from tinymlaas.datasets.router import router as datasets_router
from tinymlaas.datasets.versions_router import router as dataset_versions_router
from tinymlaas.db.session import make_engine, make_session_factory
from tinymlaas.devices import deploys
from tinymlaas.devices.capture_router import router as capture_rule_router
from tinymlaas.devices.capturing.router import router as captures_router
from tinymlaas.devices.deploy_router import router as deploy_router
from tinymlaas.devices.retention import ObservationRetention
from tinymlaas.devices.router import router as devices_router
from tinymlaas.devices.testing.router import router as device_tests_router
from tinymlaas.error_handlers import install_error_handlers
from tinymlaas.health import router as health_router
from tinymlaas.jobs.background import JobMaintenance
from tinymlaas.jobs.executor import make_executor
from tinymlaas.jobs.queue import submit_on_commit
from tinymlaas.jobs.router import router as jobs_router
from tinymlaas.limits import BodySizeLimitMiddleware, InFlightLimitMiddleware
from tinymlaas.route_gate import gate_included_routers
from tinymlaas.search.background import SearchCoordinator
from tinymlaas.search.router import router as search_router
from tinymlaas.training.router import router as training_router
from tinymlaas.training.weights_router import router as weights_router
from tinymlaas.web.router import mount_web

API_PREFIX = "/api/v1"


API_ROUTERS = (
    health_router,
    auth_router,
    datasets_router,
    dataset_versions_router,
    jobs_router,
    training_router,
    weights_router,
    compiling_router,
    devices_router,
    review_router,
    capture_rule_router,
    device_tests_router,
    captures_router,
    search_router,
    deploy_router,
)


def create_app(
    settings: Settings | None = None,
    *,
    prepare: bool = True,
    run_workers: bool = False,
    start_local_workers: bool = True,
) -> FastAPI:
    """Build the app; with `prepare`, migrations and the first admin happen at startup.

    With `run_workers` (what `tinymlaas serve` does) the app also starts its local worker
    processes (when no broker is configured) and the job maintenance thread.
    """
    settings = settings or Settings()
    secret_key = resolve_secret_key(settings)
    engine = make_engine(
        settings.resolved_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=8,
        pool_timeout=settings.db_pool_timeout_seconds,
    )
    factory = make_session_factory(engine)
    executor = make_executor(settings)
    submit_on_commit(factory, executor)
    retention = ObservationRetention(settings, factory)
    maintenance = JobMaintenance(settings, factory, executor, start_local_workers, [retention])
    coordinator = SearchCoordinator(settings, factory, follow_ups=(deploys.install_pending,))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        if prepare:
            _announce_generated_password(settings, prepare_database(engine, factory, settings))
        if run_workers:
            maintenance.start()
            coordinator.start()
        try:
            yield
        finally:
            coordinator.stop()
            maintenance.stop()
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
    app.state.executor = executor
    app.state.recent_tokens = RecentTokens(settings.token_cache_seconds)
    _add_routes(app)
    _add_request_limits(app, settings)
    return app


def _announce_generated_password(settings: Settings, generated: str | None) -> None:
    """Show a generated administrator password once, to the person starting the server."""
    if generated:
        print(
            f"Created administrator '{settings.admin_username}' with password: {generated}\n"
            "Store it now: it is not shown again.",
            flush=True,
        )


def _add_routes(app: FastAPI) -> None:
    # Included straight into the app (not through an /api/v1 router): each level of included
    # routers is matched route by route on every request.
    for router in API_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    mount_web(app)
    gate_included_routers(app)
    install_error_handlers(app)


def _add_request_limits(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(
        InFlightLimitMiddleware,
        limit=settings.api_threads,
        timeout_seconds=settings.api_queue_timeout_seconds,
        # A liveness probe must answer while the server is saturated; it uses no session.
        exempt_paths=frozenset({f"{API_PREFIX}/health"}),
    )


def serving_app() -> FastAPI:
    """The app of one of several `tinymlaas serve --processes N` processes (a uvicorn factory).

    The serving command itself supervises the local worker processes, so each web process
    only runs the job maintenance.
    """
    return create_app(Settings(), run_workers=True, start_local_workers=False)
