"""Schemas every domain shares."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: its rows and how many there are in all."""

    items: list[T]
    total: int
