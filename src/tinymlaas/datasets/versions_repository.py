"""Every query of dataset versions."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from tinymlaas.datasets.version_diff import Row
from tinymlaas.db.pagination import paginate
from tinymlaas.models import Dataset, DatasetVersion, DatasetVersionImage, Image, TrainedModel

_INSERT_BATCH = 1000


def lock_dataset(session: Session, dataset_id: int) -> None:
    """Queue concurrent versions of one dataset up behind each other (numbers stay unique).

    An UPDATE that changes nothing, rather than SELECT … FOR UPDATE: SQLite ignores FOR UPDATE,
    but an UPDATE takes its write lock, so the rows read next are the latest on every engine.
    """
    session.execute(
        update(Dataset)
        .where(Dataset.id == dataset_id)
        .values(updated_at=Dataset.updated_at)
        .execution_options(synchronize_session=False)
    )


def dataset_rows(session: Session, dataset_id: int) -> list[Row]:
    """Every image of the dataset as it is now, in path order."""
    rows = session.execute(
        select(
            Image.id, Image.folder, Image.name, Image.label, Image.split, Image.sha256,
            Image.size_bytes,
        )
        .where(Image.dataset_id == dataset_id)
        .order_by(Image.folder, Image.name)
    )  # fmt: skip
    return [Row(*row) for row in rows]


def version_rows(session: Session, version_id: int) -> list[Row]:
    """Every image of a version, in path order."""
    image = DatasetVersionImage
    rows = session.execute(
        select(
            image.image_id, image.folder, image.name, image.label, image.split, image.sha256,
            image.size_bytes,
        )
        .where(image.version_id == version_id)
        .order_by(image.folder, image.name)
    )  # fmt: skip
    return [Row(*row) for row in rows]


def insert_rows(session: Session, version_id: int, rows: Sequence[Row]) -> None:
    values = [
        {
            "version_id": version_id,
            "image_id": row.image_id,
            "folder": row.folder,
            "name": row.name,
            "label": row.label,
            "split": row.split,
            "sha256": row.sha256,
            "size_bytes": row.size_bytes,
        }
        for row in rows
    ]
    for start in range(0, len(values), _INSERT_BATCH):
        session.execute(insert(DatasetVersionImage), values[start : start + _INSERT_BATCH])


def latest(session: Session, dataset_id: int) -> DatasetVersion | None:
    query = select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id)
    return session.scalar(query.order_by(DatasetVersion.number.desc()).limit(1))


def next_number(session: Session, dataset_id: int) -> int:
    query = select(func.max(DatasetVersion.number)).where(DatasetVersion.dataset_id == dataset_id)
    return (session.scalar(query) or 0) + 1


def list_versions(
    session: Session, dataset_id: int, offset: int, limit: int
) -> tuple[list[DatasetVersion], int]:
    query = select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id)
    return paginate(session, query.order_by(DatasetVersion.number.desc()), offset, limit)


def get_by_number(session: Session, dataset_id: int, number: int) -> DatasetVersion | None:
    return session.scalar(
        select(DatasetVersion).where(
            DatasetVersion.dataset_id == dataset_id, DatasetVersion.number == number
        )
    )


def get_owned(session: Session, owner_id: int, version_id: int) -> DatasetVersion | None:
    return session.scalar(
        select(DatasetVersion).where(
            DatasetVersion.id == version_id, DatasetVersion.owner_id == owner_id
        )
    )


def models_using(
    session: Session, version_ids: Collection[int]
) -> dict[int, list[tuple[int, str]]]:
    """(id, name) of the models that learnt from each of the versions, oldest first."""
    if not version_ids:
        return {}
    rows = session.execute(
        select(TrainedModel.dataset_version_id, TrainedModel.id, TrainedModel.name)
        .where(TrainedModel.dataset_version_id.in_(set(version_ids)))
        .order_by(TrainedModel.id)
    )
    used: dict[int, list[tuple[int, str]]] = {}
    for version_id, model_id, name in rows:
        if version_id is not None:
            used.setdefault(version_id, []).append((model_id, name))
    return used


def version_ids_of_dataset(session: Session, dataset_id: int) -> list[int]:
    query = select(DatasetVersion.id).where(DatasetVersion.dataset_id == dataset_id)
    return list(session.scalars(query))


def blobs_of_versions(session: Session, version_ids: Collection[int]) -> list[str]:
    if not version_ids:
        return []
    query = select(DatasetVersionImage.sha256).where(
        DatasetVersionImage.version_id.in_(set(version_ids))
    )
    return list(session.scalars(query.distinct()))


def delete_versions(session: Session, version_ids: Collection[int]) -> None:
    if not version_ids:
        return
    ids = set(version_ids)
    session.execute(delete(DatasetVersionImage).where(DatasetVersionImage.version_id.in_(ids)))
    session.execute(delete(DatasetVersion).where(DatasetVersion.id.in_(ids)))


def detach_versions(session: Session, version_ids: Collection[int]) -> None:
    """Keep versions without their dataset (it is being deleted)."""
    if version_ids:
        session.execute(
            update(DatasetVersion)
            .where(DatasetVersion.id.in_(set(version_ids)))
            .values(dataset_id=None)
        )
