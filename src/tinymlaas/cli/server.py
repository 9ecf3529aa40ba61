"""Commands that run on the server machine: serve, db, users."""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from tinymlaas.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

console = Console(stderr=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Manage user accounts directly in the database.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(worker)
    app.add_typer(db_app, name="db")
    app.add_typer(users_app, name="users")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    processes: Annotated[
        int | None,
        typer.Option(help="Web server processes (default TINYMLAAS_WEB_PROCESSES, 1)."),
    ] = None,
) -> None:
    """Migrate the database, create the first admin if needed, and serve the API and UI."""
    import uvicorn

    from tinymlaas.app import create_app
    from tinymlaas.errors import ConfigurationError

    settings = Settings()
    processes = processes or settings.web_processes
    try:
        app = create_app(settings, run_workers=True, prepare=processes == 1)
    except ConfigurationError as exc:
        console.print(f"[red]Cannot start:[/red] {exc}")
        raise typer.Exit(2) from exc
    where = "embedded SQLite in " + str(settings.data_dir) if settings.is_embedded else "database"
    jobs = (
        f"{settings.local_workers} local worker process(es)"
        if settings.resolved_executor == "local"
        else f"{settings.resolved_executor} workers"
    )
    console.print(
        f"TinyMLaaS on http://{host}:{port} (API docs at /docs), data: {where}, jobs: {jobs}"
    )
    if processes == 1:
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=settings.access_log)
        return
    _serve_processes(app, settings, host, port, processes)


def _serve_processes(
    app: FastAPI, settings: Settings, host: str, port: int, processes: int
) -> None:
    """Several web processes: migrate once here, supervise the local workers here, and let
    each web process build its own app."""
    import uvicorn

    from tinymlaas.bootstrap import prepare_database
    from tinymlaas.jobs.worker import LocalWorkerSupervisor

    generated = prepare_database(app.state.engine, app.state.session_factory, settings)
    app.state.engine.dispose()
    if generated:
        console.print(
            f"Created administrator '{settings.admin_username}' with password: {generated}\n"
            "Store it now: it is not shown again."
        )
    supervisor = None
    if settings.resolved_executor == "local" and settings.local_workers > 0:
        supervisor = LocalWorkerSupervisor(settings.local_workers)
        supervisor.start()
    try:
        uvicorn.run(
            "tinymlaas.app:serving_app",
            factory=True,
            host=host,
            port=port,
            workers=processes,
            log_level="info",
            access_log=settings.access_log,
        )
    finally:
        if supervisor is not None:
            supervisor.stop()


def worker(
    local: Annotated[
        bool, typer.Option("--local", help="Poll the database for jobs instead of a broker.")
    ] = False,
    concurrency: Annotated[int, typer.Option(help="Jobs run at once (Celery).")] = 1,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork, solo or threads.")] = "prefork",
    job: Annotated[
        int | None,
        typer.Option(
            help="Run this one job, then exit (per-job containers): 0 succeeded, 1 failed or"
            " cancelled, 2 no such job, 3 not run (another worker has it, or it is not queued)."
        ),
    ] = None,
    parent_pid: Annotated[
        int | None,
        typer.Option(hidden=True, help="Stop when this process (the server) is gone."),
    ] = None,
) -> None:
    """Run jobs (training, compiling): from TINYMLAAS_BROKER_URL, or locally with --local.

    With --job ID the exit code says how that job ended: 0 succeeded, 1 failed or cancelled
    while running, 2 there is no such job, 3 not run because another worker has it or it is
    no longer queued (cancelled before it started, already finished).
    """
    import logging

    from tinymlaas.jobs.worker import local_worker_loop, run_celery_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = Settings()
    if job is not None:
        from tinymlaas.jobs.worker import run_single

        code, outcome = run_single(settings, job)
        console.print(outcome, markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(code)
    if local or not settings.broker_url:
        console.print("worker: taking jobs from the database")
        stop = _stop_on_sigterm()
        if parent_pid is not None:
            from tinymlaas.jobs.worker import exit_with_parent

            exit_with_parent(parent_pid)
        local_worker_loop(settings, stop=stop)
        return
    run_celery_worker(settings, concurrency, pool)


def _stop_on_sigterm() -> threading.Event:
    import signal

    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        # Once: a second SIGTERM (the supervisor's, after the parent-death signal) must not
        # interrupt the requeueing of the job the first one stopped.
        if stop.is_set():
            return
        stop.set()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, handle)
    return stop


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    from tinymlaas.db import migrate
    from tinymlaas.db.session import make_engine

    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    migrate.upgrade(engine)
    console.print(f"Database at revision {migrate.current_revision(engine)}")
    engine.dispose()


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="The new user's name.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an administrator.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a user (the password is prompted for unless --password-stdin)."""
    from tinymlaas.auth.service import create_user
    from tinymlaas.db import migrate
    from tinymlaas.db.session import make_engine, make_session_factory, transaction
    from tinymlaas.errors import TinyMLaaSError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    migrate.upgrade(engine)
    try:
        with transaction(make_session_factory(engine)) as session:
            user = create_user(session, username, password, is_admin=admin)
            role = "administrator" if user.is_admin else "user"
    except TinyMLaaSError as exc:
        console.print(f"[red]Error:[/red] {exc.detail}")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    console.print(f"Created {role} '{username}'")
