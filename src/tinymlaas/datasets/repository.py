"""Every query of the datasets domain."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    bindparam,
    delete,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from tinymlaas.db.base import utcnow
from tinymlaas.db.insert import insert_ignoring_duplicates
from tinymlaas.db.pagination import paginate, paginate_rows
from tinymlaas.models import Dataset, Folder, Image


def within(column: InstrumentedAttribute[str], folder: str) -> ColumnElement[bool]:
    """Rows whose folder is `folder` or below it (case-sensitive on every engine, unlike LIKE)."""
    prefix = folder + "/"
    return or_(column == folder, func.substr(column, 1, len(prefix)) == prefix)


# The statements of hot reads are built once; only their values change (see db/pagination).
_OWNED = select(Dataset).where(
    Dataset.id == bindparam("dataset_id"), Dataset.owner_id == bindparam("owner_id")
)
_OWNED_FOR_UPDATE = _OWNED.with_for_update()
_OWNED_ID = select(Dataset.id).where(
    Dataset.id == bindparam("dataset_id"), Dataset.owner_id == bindparam("owner_id")
)
_OWNED_ROW = select(Dataset.__table__).where(
    Dataset.id == bindparam("dataset_id"), Dataset.owner_id == bindparam("owner_id")
)
_ALL_OWNED_ROWS = (
    select(Dataset.__table__)
    .where(Dataset.owner_id == bindparam("owner_id"))
    .order_by(Dataset.created_at.desc(), Dataset.id.desc())
)
_IMAGE_ROW = select(Image.__table__).where(
    Image.id == bindparam("image_id"), Image.dataset_id == bindparam("dataset_id")
)
_IMAGE_ORDER = (Image.folder, Image.name, Image.id)
_IMAGE_ROWS = (
    select(Image.__table__)
    .where(Image.dataset_id == bindparam("dataset_id"))
    .order_by(*_IMAGE_ORDER)
)
_ALL_OWNED = (
    select(Dataset)
    .where(Dataset.owner_id == bindparam("owner_id"))
    .order_by(Dataset.created_at.desc(), Dataset.id.desc())
)
_IMAGE_GROUPS = (
    select(
        Image.dataset_id,
        Image.label,
        Image.split,
        func.count(),
        func.coalesce(func.sum(Image.size_bytes), 0),
    )
    .where(Image.dataset_id.in_(bindparam("dataset_ids", expanding=True)))
    .group_by(Image.dataset_id, Image.label, Image.split)
)

_IMAGES = (
    select(Image)
    .where(Image.dataset_id == bindparam("dataset_id"))
    .order_by(Image.folder, Image.name, Image.id)
)
_IMAGE = select(Image).where(
    Image.id == bindparam("image_id"), Image.dataset_id == bindparam("dataset_id")
)


def get_dataset(
    session: Session, owner_id: int, dataset_id: int, *, for_update: bool = False
) -> Dataset | None:
    """The user's dataset; `for_update` locks its row so concurrent changes queue up."""
    query = _OWNED_FOR_UPDATE if for_update else _OWNED
    return session.scalar(query, {"dataset_id": dataset_id, "owner_id": owner_id})


def dataset_name_taken(
    session: Session, owner_id: int, name: str, exclude_id: int | None = None
) -> bool:
    query = select(Dataset.id).where(Dataset.owner_id == owner_id, Dataset.name == name)
    if exclude_id is not None:
        query = query.where(Dataset.id != exclude_id)
    return session.scalar(query) is not None


def list_datasets(
    session: Session, owner_id: int, offset: int, limit: int
) -> tuple[list[Dataset], int]:
    return paginate(session, _ALL_OWNED, offset, limit, {"owner_id": owner_id})


def count_datasets(session: Session, owner_id: int) -> int:
    return session.scalar(select(func.count()).where(Dataset.owner_id == owner_id)) or 0


def names_by_id(session: Session, owner_id: int, dataset_ids: Collection[int]) -> dict[int, str]:
    """The names of the user's datasets among `dataset_ids`, in one query."""
    rows = session.execute(
        select(Dataset.id, Dataset.name).where(
            Dataset.owner_id == owner_id, Dataset.id.in_(set(dataset_ids))
        )
    )
    return {dataset_id: name for dataset_id, name in rows}


def all_datasets(session: Session, owner_id: int) -> list[Dataset]:
    """Every dataset of the user, newest first (for a choice among them)."""
    query = select(Dataset).where(Dataset.owner_id == owner_id)
    return list(session.scalars(query.order_by(Dataset.created_at.desc(), Dataset.id.desc())))


def image_groups(
    session: Session | Connection, dataset_ids: Sequence[int]
) -> dict[int, list[tuple[str | None, str | None, int, int]]]:
    """(label, split, images, bytes) groups per dataset: every count a summary needs, one query."""
    rows = session.execute(_IMAGE_GROUPS, {"dataset_ids": list(dataset_ids)})
    groups: dict[int, list[tuple[str | None, str | None, int, int]]] = {}
    for dataset_id, label, split, count, size in rows:
        groups.setdefault(dataset_id, []).append((label, split, count, int(size)))
    return groups


def folder_paths(session: Session, dataset_id: int) -> list[str]:
    return list(
        session.scalars(
            select(Folder.path).where(Folder.dataset_id == dataset_id).order_by(Folder.path)
        )
    )


def folder_exists(session: Session, dataset_id: int, path: str) -> bool:
    return (
        session.scalar(
            select(Folder.id).where(Folder.dataset_id == dataset_id, Folder.path == path)
        )
        is not None
    )


def add_folders(session: Session, dataset_id: int, paths: Iterable[str]) -> None:
    """Insert the folders of `paths` that do not exist yet."""
    wanted = {path for path in paths if path}
    if not wanted:
        return
    existing = set(
        session.scalars(
            select(Folder.path).where(Folder.dataset_id == dataset_id, Folder.path.in_(wanted))
        )
    )
    missing = sorted(wanted - existing)
    if missing:
        now = utcnow()
        rows = [
            {"dataset_id": dataset_id, "path": path, "created_at": now, "updated_at": now}
            for path in missing
        ]
        session.execute(insert_ignoring_duplicates(session, Folder), rows)


def image_counts_by_folder(session: Session, dataset_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Image.folder, func.count())
        .where(Image.dataset_id == dataset_id)
        .group_by(Image.folder)
    )
    return {folder: count for folder, count in rows}


def existing_paths(
    session: Session, dataset_id: int, paths: Iterable[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which of the (folder, name) pairs already hold an image."""
    found: set[tuple[str, str]] = set()
    pairs = list(paths)
    for start in range(0, len(pairs), 300):
        batch = pairs[start : start + 300]
        rows = session.execute(
            select(Image.folder, Image.name).where(
                Image.dataset_id == dataset_id, tuple_(Image.folder, Image.name).in_(batch)
            )
        )
        found.update((folder, name) for folder, name in rows)
    return found


def list_images(
    session: Session,
    dataset_id: int,
    *,
    folder: str | None,
    label: str | None,
    split: str | None,
    offset: int,
    limit: int,
) -> tuple[list[Image], int]:
    if folder is None and label is None and split is None:
        return paginate(session, _IMAGES, offset, limit, {"dataset_id": dataset_id})
    conditions = _image_filters(dataset_id, folder, label, split)
    query = select(Image).where(*conditions).order_by(Image.folder, Image.name, Image.id)
    return paginate(session, query, offset, limit)


def _image_filters(
    dataset_id: int, folder: str | None, label: str | None, split: str | None
) -> list[ColumnElement[bool]]:
    """The WHERE of an image list: the dataset, and each filter given."""
    conditions: list[ColumnElement[bool]] = [Image.dataset_id == dataset_id]
    if folder is not None:
        conditions.append(Image.folder == folder)
    if label is not None:
        conditions.append(Image.label == label)
    if split is not None:
        conditions.append(Image.split == split)
    return conditions


def get_dataset_row(connection: Connection, owner_id: int, dataset_id: int) -> Row[Any] | None:
    values = {"dataset_id": dataset_id, "owner_id": owner_id}
    return connection.execute(_OWNED_ROW, values).first()


def list_dataset_rows(
    connection: Connection, owner_id: int, offset: int, limit: int
) -> tuple[list[Row[Any]], int]:
    return paginate_rows(connection, _ALL_OWNED_ROWS, offset, limit, {"owner_id": owner_id})


def get_image_row(connection: Connection, dataset_id: int, image_id: int) -> Row[Any] | None:
    values = {"image_id": image_id, "dataset_id": dataset_id}
    return connection.execute(_IMAGE_ROW, values).first()


def owns_dataset(connection: Connection, owner_id: int, dataset_id: int) -> bool:
    values = {"dataset_id": dataset_id, "owner_id": owner_id}
    return connection.execute(_OWNED_ID, values).first() is not None


def list_image_rows(
    connection: Connection,
    dataset_id: int,
    *,
    folder: str | None,
    label: str | None,
    split: str | None,
    offset: int,
    limit: int,
) -> tuple[list[Row[Any]], int]:
    """`list_images` as Core rows on a plain connection (the hot read of the API)."""
    if folder is None and label is None and split is None:
        return paginate_rows(connection, _IMAGE_ROWS, offset, limit, {"dataset_id": dataset_id})
    conditions = _image_filters(dataset_id, folder, label, split)
    query = select(Image.__table__).where(*conditions).order_by(*_IMAGE_ORDER)
    return paginate_rows(connection, query, offset, limit)


def get_image(session: Session, dataset_id: int, image_id: int) -> Image | None:
    return session.scalar(_IMAGE, {"image_id": image_id, "dataset_id": dataset_id})


def get_images(session: Session, dataset_id: int, image_ids: Sequence[int]) -> list[Image]:
    query = select(Image).where(Image.dataset_id == dataset_id, Image.id.in_(set(image_ids)))
    return list(session.scalars(query.order_by(Image.id)))


def image_exists(session: Session, dataset_id: int, folder: str, name: str) -> bool:
    query = select(Image.id).where(
        Image.dataset_id == dataset_id, Image.folder == folder, Image.name == name
    )
    return session.scalar(query) is not None


def names_in_folder(session: Session, dataset_id: int, folder: str) -> set[str]:
    """The names of the images directly in `folder`."""
    query = select(Image.name).where(Image.dataset_id == dataset_id, Image.folder == folder)
    return set(session.scalars(query))


def images_within(session: Session, dataset_id: int, folder: str) -> list[Image]:
    return list(
        session.scalars(
            select(Image).where(Image.dataset_id == dataset_id, within(Image.folder, folder))
        )
    )


def count_images_within(session: Session, dataset_id: int, folder: str) -> int:
    query = select(func.count()).select_from(Image)
    return (
        session.scalar(query.where(Image.dataset_id == dataset_id, within(Image.folder, folder)))
        or 0
    )


def folders_within(session: Session, dataset_id: int, folder: str) -> list[Folder]:
    return list(
        session.scalars(
            select(Folder).where(Folder.dataset_id == dataset_id, within(Folder.path, folder))
        )
    )


def delete_images(session: Session, image_ids: Sequence[int]) -> None:
    for start in range(0, len(image_ids), 500):
        session.execute(delete(Image).where(Image.id.in_(image_ids[start : start + 500])))


def blob_refs_of_dataset(session: Session, dataset_id: int) -> list[str]:
    rows = session.execute(
        select(Image.sha256, Image.thumbnail_sha256).where(Image.dataset_id == dataset_id)
    )
    return [sha for pair in rows for sha in pair if sha]


def delete_dataset_rows(session: Session, dataset_id: int) -> None:
    session.execute(delete(Image).where(Image.dataset_id == dataset_id))
    session.execute(delete(Folder).where(Folder.dataset_id == dataset_id))
    session.execute(delete(Dataset).where(Dataset.id == dataset_id))
