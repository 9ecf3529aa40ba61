"""Engine and session factory; one code path for SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
T = TypeVar("T")

# What a lost or refused database connection raises (a restart, a network cut).
UNREACHABLE = (OperationalError, InterfaceError)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the per-engine settings this project relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "mysql":
        connect_args["charset"] = "utf8mb4"
    # No pre-ping (a round trip per request): a connection lost to a database restart fails
    # its request with 503 and SQLAlchemy then replaces every pooled connection.
    return create_engine(url, pool_recycle=1800, connect_args=connect_args, **kwargs)


def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # WAL lets the API read while a worker process writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def lock_for_writing(session: Session) -> None:
    """On SQLite, make the session's transaction a writer from here on; elsewhere nothing.

    A SQLite transaction that began by reading (a SAVEPOINT starts one) cannot become a writer
    once another connection has committed since: its first write fails at once with "database
    is locked" (SQLITE_BUSY_SNAPSHOT; the busy timeout does not help). Call this before such a
    read-then-write transaction: other writers then wait for it instead.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        connection.execute(text("BEGIN IMMEDIATE"))


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits once at the end, or rolls back everything on error."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def commit_patiently(
    factory: sessionmaker[Session],
    work: Callable[[Session], T],
    patience_seconds: float,
    what: str,
    pause_seconds: float = 2.0,
) -> T:
    """Run `work` in a transaction, again while the database is unreachable, for up to
    `patience_seconds`: for results that took long to compute and must not be lost to a
    database restart. Other errors are raised at once."""
    deadline = time.monotonic() + patience_seconds
    while True:
        try:
            with transaction(factory) as session:
                return work(session)
        except UNREACHABLE as exc:
            if time.monotonic() >= deadline:
                raise
            log.warning("%s: database unreachable, trying again: %s", what, exc.orig or exc)
            time.sleep(pause_seconds)
