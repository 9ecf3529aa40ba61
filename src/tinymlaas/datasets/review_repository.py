"""Queries of review queues."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tinymlaas.db.pagination import paginate
from tinymlaas.models import Image, ReviewItem


def list_items(
    session: Session, dataset_id: int, offset: int, limit: int
) -> tuple[list[ReviewItem], int]:
    """The queue, most doubtful first (ties: oldest first)."""
    query = (
        select(ReviewItem)
        .where(ReviewItem.dataset_id == dataset_id)
        .order_by(ReviewItem.uncertainty.desc(), ReviewItem.id)
    )
    return paginate(session, query, offset, limit)


def get_items(session: Session, dataset_id: int, item_ids: Sequence[int]) -> list[ReviewItem]:
    query = select(ReviewItem).where(
        ReviewItem.dataset_id == dataset_id, ReviewItem.id.in_(set(item_ids))
    )
    return list(session.scalars(query.order_by(ReviewItem.id)))


def get_item(session: Session, dataset_id: int, item_id: int) -> ReviewItem | None:
    return session.scalar(
        select(ReviewItem).where(ReviewItem.id == item_id, ReviewItem.dataset_id == dataset_id)
    )


def count_queued(session: Session, dataset_id: int) -> int:
    query = select(func.count()).where(ReviewItem.dataset_id == dataset_id)
    return session.scalar(query) or 0


def queued_by_device(session: Session, dataset_id: int) -> dict[int, int]:
    query = (
        select(ReviewItem.device_id, func.count())
        .where(ReviewItem.dataset_id == dataset_id, ReviewItem.device_id.is_not(None))
        .group_by(ReviewItem.device_id)
    )
    return {device_id: count for device_id, count in session.execute(query) if device_id}


def has_splits(session: Session, dataset_id: int) -> bool:
    query = select(Image.id).where(Image.dataset_id == dataset_id, Image.split.is_not(None))
    return session.scalar(query.limit(1)) is not None


def frame_refs(session: Session, dataset_id: int) -> list[str]:
    """The blobs of the frames waiting in the dataset's queue."""
    query = select(ReviewItem.sha256).where(ReviewItem.dataset_id == dataset_id)
    return list(session.scalars(query))
