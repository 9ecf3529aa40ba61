"""One page of a query's rows and the total the whole query would return."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, Select, bindparam, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")


def paginate(
    session: Session,
    statement: Select[T],
    offset: int,
    limit: int,
    params: Mapping[str, Any] | None = None,
) -> tuple[list[T], int]:
    """The rows `offset` to `offset + limit` of an ordered select, and how many it has in all.

    With `params`, `statement` is a prebuilt one (module-level, values as bind parameters):
    its count and page statements are then built once too. Building a statement costs more
    than running it on a hot read. A page that is not full is the last one: the total is
    then known without counting.
    """
    if params is None:
        count, page = _count_and_page(statement)
    else:
        count, page = _prebuilt_count_and_page(statement)
    values = {**(params or {}), "page_offset": offset, "page_limit": limit}
    rows = list(session.scalars(page, values))
    if limit > 0 and (0 < len(rows) < limit or (offset == 0 and not rows)):
        return rows, offset + len(rows)  # the last page: its rows tell the total, no count
    return rows, session.scalar(count, values) or 0


def paginate_rows(
    connection: Connection,
    statement: Select[Any],
    offset: int,
    limit: int,
    params: Mapping[str, Any] | None = None,
) -> tuple[list[Row[Any]], int]:
    """`paginate` on a plain connection: Core rows instead of ORM objects (hot reads)."""
    if params is None:
        count, page = _count_and_page(statement)
    else:
        count, page = _prebuilt_count_and_page(statement)
    values = {**(params or {}), "page_offset": offset, "page_limit": limit}
    rows = list(connection.execute(page, values))
    if limit > 0 and (0 < len(rows) < limit or (offset == 0 and not rows)):
        return rows, offset + len(rows)
    return rows, connection.execute(count, values).scalar() or 0


def _count_and_page(statement: Select[T]) -> tuple[Select[Any], Select[T]]:
    counted: Select[Any] = statement.order_by(None)
    page = statement.offset(bindparam("page_offset")).limit(bindparam("page_limit"))
    return select(func.count()).select_from(counted.subquery()), page


_prebuilt_count_and_page = lru_cache(maxsize=64)(_count_and_page)
