"""INSERT that adds to the row already holding its key, on every supported engine.

INSERT … ON CONFLICT DO UPDATE (SQLite, PostgreSQL) or ON DUPLICATE KEY UPDATE (MariaDB): one
statement, so concurrent writers never lose an addition and no row is read first. Built once
per table and dialect (executemany compiles it once and the driver pipelines it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import Session

from tinymlaas.db.base import Base

# (the values of the row being inserted, the dialect's larger-of function) → column: new value
Updates = Callable[[Any, Any], dict[str, Any]]

_STATEMENTS: dict[tuple[str, str], Any] = {}


def upsert_adding(
    session: Session,
    model: type[Base],
    key: Sequence[str],
    updates: Updates,
    rows: Sequence[dict[str, Any]],
) -> None:
    """Insert the rows, or update the existing row of each key as `updates` says.

    Rows are sorted by key so that concurrent writers lock them in the same order.
    """
    if not rows:
        return
    ordered = sorted(rows, key=lambda row: tuple(row[name] for name in key))
    dialect = session.get_bind().dialect.name
    session.execute(_statement(dialect, model, key, updates), ordered)


def _statement(dialect: str, model: type[Base], key: Sequence[str], updates: Updates) -> Any:
    table: Any = model.__table__
    cached = _STATEMENTS.get((table.name, dialect))
    if cached is not None:
        return cached
    if dialect in ("mysql", "mariadb"):
        insert_row = mysql.insert(table)
        statement = insert_row.on_duplicate_key_update(updates(insert_row.inserted, func.greatest))
    else:
        module: Any = postgresql if dialect == "postgresql" else sqlite
        insert_row = module.insert(table)
        larger = func.greatest if dialect == "postgresql" else func.max
        statement = insert_row.on_conflict_do_update(
            index_elements=list(key), set_=updates(insert_row.excluded, larger)
        )
    _STATEMENTS[(table.name, dialect)] = statement
    return statement
