"""INSERT that skips rows whose key already exists, on every supported engine."""

from __future__ import annotations

from sqlalchemy import Insert, insert
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import Session

from tinymlaas.db.base import Base


def insert_ignoring_duplicates(session: Session, model: type[Base]) -> Insert:
    """For rows another transaction may insert at the same time: its row is as good as ours."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(model).on_conflict_do_nothing()
    if dialect in ("mysql", "mariadb"):
        return mysql.insert(model).prefix_with("IGNORE")
    return insert(model)
