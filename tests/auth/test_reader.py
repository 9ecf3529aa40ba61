"""Read-only answers in one thread hop: their JSON, their connection, their refusal to write."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel
from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import Session

from tinymlaas.auth.dependencies import Reader
from tinymlaas.models import User

from conftest import Database

IDLE = 0  # psycopg's TransactionStatus.IDLE: no transaction open on the connection


class Count(BaseModel):
    users: int
    note: str | None = None


def _count(session: Session) -> Count:
    return Count(users=session.scalar(select(func.count()).select_from(User)) or 0)


def _transaction_status(session: Session) -> int:
    dbapi = session.connection().connection.dbapi_connection
    return int(dbapi.info.transaction_status)  # type: ignore[union-attr]


def test_the_answer_is_the_models_json(database: Database) -> None:
    reader = Reader(database.factory, User(id=1, username="nobody"))
    response = asyncio.run(reader.answer(_count))
    assert response.media_type == "application/json"
    assert response.body == b'{"users":0,"note":null}'


def test_postgresql_reads_open_no_transaction(database: Database) -> None:
    if database.backend != "postgresql":
        pytest.skip("BEGIN/COMMIT round trips are saved on PostgreSQL only")

    def status(session: Session) -> Count:
        users = _count(session).users
        return Count(users=users, note=f"status {_transaction_status(session)}")

    reader = Reader(database.factory, User(id=1, username="nobody"))
    assert asyncio.run(reader.answer(status)).body == b'{"users":0,"note":"status 0"}'
    # The connection goes back to the pool as it came: the next session is transactional again.
    with database.factory() as session:
        session.execute(text("SELECT 1"))
        assert _transaction_status(session) != IDLE


def test_a_read_that_writes_is_refused_and_stores_nothing(database: Database) -> None:
    def write(session: Session) -> Count:
        session.add(User(username="sneaky", password_hash="x", is_admin=False))
        session.flush()
        raise AssertionError("the flush should have been refused")

    reader = Reader(database.factory, User(id=1, username="nobody"))
    with pytest.raises(RuntimeError, match="read-only request tried to write"):
        asyncio.run(reader.answer(write))
    with database.factory() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0


def test_a_rows_answer_is_the_models_json_and_opens_no_transaction(database: Database) -> None:
    def count(connection: Connection) -> Count:
        users = connection.execute(select(func.count()).select_from(User)).scalar_one()
        dbapi = connection.connection.dbapi_connection
        status = dbapi.info.transaction_status if database.backend == "postgresql" else None  # type: ignore[union-attr]
        return Count(users=users, note=None if status is None else f"status {int(status)}")

    reader = Reader(database.factory, User(id=1, username="nobody"))
    response = asyncio.run(reader.answer_rows(count))
    expected = b'{"users":0,"note":"status 0"}' if database.backend == "postgresql" else None
    assert response.body == (expected or b'{"users":0,"note":null}')
    assert response.media_type == "application/json"
    with database.factory() as session:  # the pooled connection is transactional again
        session.execute(text("SELECT 1"))
        if database.backend == "postgresql":
            assert _transaction_status(session) != IDLE
