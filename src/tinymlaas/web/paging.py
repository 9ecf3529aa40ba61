"""List pages show one page of rows, the total and links to the previous and next pages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Query, Request

from tinymlaas.params import MAX_ID

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Window:
    """Which rows a list page asks for (`?offset=&limit=`)."""

    offset: int
    limit: int
    path: str
    default_limit: int = PAGE_SIZE


def window_of(default_limit: int) -> Callable[..., Window]:
    """The dependency reading `?offset=&limit=` for a list of `default_limit` rows a page."""

    def window(
        request: Request,
        offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = default_limit,
    ) -> Window:
        return Window(offset, limit, request.url.path, default_limit)

    return window


WindowDep = Annotated[Window, Depends(window_of(PAGE_SIZE))]


@dataclass(frozen=True)
class Pager:
    """What the pager under a list shows: "21–40 of 95" and the links around it."""

    first: int
    last: int
    total: int
    previous_url: str | None
    next_url: str | None

    @property
    def shown(self) -> bool:
        return bool(self.previous_url or self.next_url)


def pager(window: Window, total: int) -> Pager:
    def url(offset: int) -> str:
        query = {"offset": offset} if offset else {}
        if window.limit != window.default_limit:
            query["limit"] = window.limit
        return window.path + (f"?{urlencode(query)}" if query else "")

    has_previous = window.offset > 0
    has_next = window.offset + window.limit < total
    return Pager(
        first=min(window.offset + 1, total),
        last=min(window.offset + window.limit, total),
        total=total,
        previous_url=url(max(0, window.offset - window.limit)) if has_previous else None,
        next_url=url(window.offset + window.limit) if has_next else None,
    )
