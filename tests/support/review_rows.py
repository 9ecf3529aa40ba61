"""Review queues as the hub leaves them: frames a device kept, with its predictions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.datasets import review
from tinymlaas.models import User

from support.factories import image_bytes, labelled_zip


def admin_id(database: Any) -> int:
    with database.factory() as session:
        return int(session.scalars(select(User.id).where(User.username == "admin")).one())


def pets_zip(splits: bool = False) -> bytes:
    """Two cats and two dogs (under train/ with `splits`)."""
    data, _ = labelled_zip({"cat": 2, "dog": 2}, prefix="train/" if splits else "")
    return data


def queue_frames(
    database: Any,
    dataset_id: int,
    device_id: int | None,
    *frames: tuple[str, float, tuple[int, int, int]],
) -> list[int]:
    """Queue (predicted label, top score, colour) frames of a cat/dog model; their ids."""
    ids: list[int] = []
    with database.factory() as session:
        for label, top, colour in frames:
            other = "dog" if label == "cat" else "cat"
            frame = review.KeptFrame(
                dataset_id=dataset_id,
                device_id=device_id,
                compiled_id=None,
                seq=len(ids),
                label=label,
                scores={label: top, other: round(1 - top, 6)},
                uncertainty=1 - (top - (1 - top)),
                reason="below_score",
                data=image_bytes(color=colour),
            )
            ids.append(review.add_item(session, DatabaseBlobStore(session), frame, 10**6).id)
        session.commit()
    return ids
