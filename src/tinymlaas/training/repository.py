"""Every query of the training domain."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, select
from sqlalchemy.orm import Session

from tinymlaas.db.pagination import paginate
from tinymlaas.models import CompiledFile, CompiledModel, Image, TrainedModel

# Built once: building a statement costs more than running it on a hot read.
_OWNED = select(TrainedModel).where(
    TrainedModel.id == bindparam("model_id"), TrainedModel.owner_id == bindparam("owner_id")
)

_OWNED_ROW = select(TrainedModel.__table__).where(
    TrainedModel.id == bindparam("model_id"), TrainedModel.owner_id == bindparam("owner_id")
)


def get_owned_row(connection: Connection, owner_id: int, model_id: int) -> Row[Any] | None:
    """The model's columns as a plain row (the hot read: no ORM session or object)."""
    return connection.execute(_OWNED_ROW, {"model_id": model_id, "owner_id": owner_id}).first()


def get_owned(session: Session, owner_id: int, model_id: int) -> TrainedModel | None:
    return session.scalar(_OWNED, {"model_id": model_id, "owner_id": owner_id})


def get_by_job(session: Session, job_id: int) -> TrainedModel | None:
    return session.scalar(select(TrainedModel).where(TrainedModel.job_id == job_id))


def list_owned(
    session: Session, owner_id: int, dataset_id: int | None, offset: int, limit: int
) -> tuple[list[TrainedModel], int]:
    conditions = [TrainedModel.owner_id == owner_id]
    if dataset_id is not None:
        conditions.append(TrainedModel.dataset_id == dataset_id)
    query = select(TrainedModel).where(*conditions).order_by(TrainedModel.id.desc())
    return paginate(session, query, offset, limit)


def names_by_id(session: Session, owner_id: int, model_ids: Collection[int]) -> dict[int, str]:
    """The names of the user's models among `model_ids`, in one query."""
    rows = session.execute(
        select(TrainedModel.id, TrainedModel.name).where(
            TrainedModel.owner_id == owner_id, TrainedModel.id.in_(set(model_ids))
        )
    )
    return {model_id: name for model_id, name in rows}


def continued_by(session: Session, owner_id: int, model_id: int) -> list[TrainedModel]:
    """The user's models trained on from `model_id`, newest first."""
    query = select(TrainedModel).where(
        TrainedModel.owner_id == owner_id, TrainedModel.base_model_id == model_id
    )
    return list(session.scalars(query.order_by(TrainedModel.id.desc())))


def label_counts(session: Session, dataset_id: int) -> dict[str, int]:
    """Images per label over the whole dataset (unlabelled images are not counted)."""
    rows = session.execute(
        select(Image.label, func.count())
        .where(Image.dataset_id == dataset_id, Image.label.is_not(None))
        .group_by(Image.label)
    )
    return {label: count for label, count in rows if label is not None}


def split_counts(session: Session, dataset_id: int) -> dict[str | None, int]:
    rows = session.execute(
        select(Image.split, func.count())
        .where(Image.dataset_id == dataset_id, Image.label.is_not(None))
        .group_by(Image.split)
    )
    return {split: count for split, count in rows}


def labelled_images(session: Session, dataset_id: int) -> list[tuple[int, str, str, str | None]]:
    """(id, sha256, label, split) of every labelled image, in a stable order."""
    rows = session.execute(
        select(Image.id, Image.sha256, Image.label, Image.split)
        .where(Image.dataset_id == dataset_id, Image.label.is_not(None))
        .order_by(Image.id)
    )
    return [(image_id, sha, label or "", split) for image_id, sha, label, split in rows]


def delete_compiled_versions(session: Session, model_id: int) -> list[str]:
    """Delete a model's compiled versions and their file rows; returns the blobs they used."""
    versions = select(CompiledModel.id).where(CompiledModel.model_id == model_id)
    shas = list(
        session.scalars(select(CompiledFile.sha256).where(CompiledFile.compiled_id.in_(versions)))
    )
    session.execute(delete(CompiledFile).where(CompiledFile.compiled_id.in_(versions)))
    session.execute(delete(CompiledModel).where(CompiledModel.model_id == model_id))
    return shas
