"""One page of a query's rows and the total the whole query would return."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")


def paginate(
    session: Session, statement: Select[T], offset: int, limit: int
) -> tuple[list[T], int]:
    """The rows `offset` to `offset + limit` of an ordered select, and how many it has in all."""
    counted: Select[Any] = statement.order_by(None)
    total = session.scalar(select(func.count()).select_from(counted.subquery())) or 0
    rows = session.scalars(statement.offset(offset).limit(limit))
    return list(rows), total
