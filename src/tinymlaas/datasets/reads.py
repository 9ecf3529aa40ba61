"""The datasets domain's hot reads, on a plain connection with Core rows.

The API's busiest GETs read here rather than through an ORM session: a session, its identity
map and the objects it builds cost about as much as the query itself (see `Reader.answer_rows`).
The answers are the same models the session-based paths build.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row

from tinymlaas.datasets import repository
from tinymlaas.datasets.schemas import DatasetRead, ImageRead
from tinymlaas.datasets.service import describe
from tinymlaas.errors import NotFound
from tinymlaas.models import User
from tinymlaas.schemas import Page


@dataclass(frozen=True)
class ImageFilter:
    """Which images a listing shows (None: any)."""

    folder: str | None = None
    label: str | None = None
    split: str | None = None


def dataset_page(connection: Connection, owner: User, offset: int, limit: int) -> Page[DatasetRead]:
    rows, total = repository.list_dataset_rows(connection, owner.id, offset, limit)
    return Page[DatasetRead](items=describe(connection, rows), total=total)


def read_dataset(connection: Connection, owner: User, dataset_id: int) -> DatasetRead:
    row = repository.get_dataset_row(connection, owner.id, dataset_id)
    if row is None:
        raise NotFound(f"dataset {dataset_id} not found")
    return describe(connection, [row])[0]


def image_page(
    connection: Connection,
    owner: User,
    dataset_id: int,
    where: ImageFilter,
    offset: int,
    limit: int,
) -> Page[ImageRead]:
    _check_dataset(connection, owner, dataset_id)
    rows, total = repository.list_image_rows(
        connection,
        dataset_id,
        folder=where.folder,
        label=where.label,
        split=where.split,
        offset=offset,
        limit=limit,
    )
    return Page[ImageRead](items=[_image(row) for row in rows], total=total)


def read_image(connection: Connection, owner: User, dataset_id: int, image_id: int) -> ImageRead:
    _check_dataset(connection, owner, dataset_id)
    row = repository.get_image_row(connection, dataset_id, image_id)
    if row is None:
        raise NotFound(f"image {image_id} not found in dataset {dataset_id}")
    return _image(row)


def _check_dataset(connection: Connection, owner: User, dataset_id: int) -> None:
    if not repository.owns_dataset(connection, owner.id, dataset_id):
        raise NotFound(f"dataset {dataset_id} not found")


def _image(row: Row[Any]) -> ImageRead:
    path = f"{row.folder}/{row.name}" if row.folder else row.name  # as Image.path
    return ImageRead.model_validate({**row._mapping, "path": path})
