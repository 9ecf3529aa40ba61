"""`/datasets/{id}/review`: frames devices kept; accept, relabel or discard them."""

from __future__ import annotations

from fastapi import APIRouter, Response

from tinymlaas.auth.dependencies import SessionDep
from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.datasets import review, review_repository
from tinymlaas.datasets.review_schemas import (
    ReviewDone,
    ReviewItemRead,
    ReviewRelabel,
    ReviewSelection,
)
from tinymlaas.datasets.router import DatasetDep
from tinymlaas.params import Id, Limit, Offset
from tinymlaas.schemas import Page

router = APIRouter(prefix="/datasets", tags=["review"])
NOT_IN_QUEUE: dict[int | str, dict[str, object]] = {
    404: {"description": "Ids not in the queue (listed in `missing_ids`); nothing changed"}
}


@router.get(
    "/{dataset_id}/review", operation_id="list_review_items", response_model=Page[ReviewItemRead]
)
def list_review_items(
    dataset: DatasetDep, session: SessionDep, offset: Offset = 0, limit: Limit = 100
) -> Page[ReviewItemRead]:
    """The dataset's review queue, most doubtful first."""
    rows, total = review_repository.list_items(session, dataset.id, offset, limit)
    return Page(items=[ReviewItemRead.model_validate(row) for row in rows], total=total)


@router.get(
    "/{dataset_id}/review/{item_id}/content",
    operation_id="get_review_item_content",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}}},
)
def review_item_content(dataset: DatasetDep, item_id: Id, session: SessionDep) -> Response:
    """The kept frame's bytes."""
    item = review.get_item(session, dataset, item_id)
    return Response(
        DatabaseBlobStore(session).get(item.sha256),
        media_type=review.content_type(item),
        headers={"ETag": f'"{item.sha256}"', "Cache-Control": "private, max-age=86400"},
    )


@router.post(
    "/{dataset_id}/review/accept",
    operation_id="accept_review_items",
    response_model=ReviewDone,
    responses=NOT_IN_QUEUE,
)
def accept_review_items(
    payload: ReviewSelection, dataset: DatasetDep, session: SessionDep
) -> ReviewDone:
    """File each item into its predicted label's folder."""
    return review.accept(session, dataset, payload.ids)


@router.post(
    "/{dataset_id}/review/relabel",
    operation_id="relabel_review_items",
    response_model=ReviewDone,
    responses=NOT_IN_QUEUE,
)
def relabel_review_items(
    payload: ReviewRelabel, dataset: DatasetDep, session: SessionDep
) -> ReviewDone:
    """File each item into the given label's folder."""
    return review.relabel(session, dataset, payload.ids, payload.label)


@router.post(
    "/{dataset_id}/review/discard",
    operation_id="discard_review_items",
    response_model=ReviewDone,
    responses=NOT_IN_QUEUE,
)
def discard_review_items(
    payload: ReviewSelection, dataset: DatasetDep, session: SessionDep
) -> ReviewDone:
    """Drop the items and their frames."""
    return review.discard(session, DatabaseBlobStore(session), dataset, payload.ids)
