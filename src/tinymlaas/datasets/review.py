"""A dataset's review queue: frames devices kept, filed into folders by a person, all or nothing.

Accepting puts an item's image into the folder of its predicted label, relabelling into the
folder of the label given (under `train/` when the dataset has split folders), discarding
drops it. Flushes; the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tinymlaas.blobs import BlobStore
from tinymlaas.datasets import paths, repository, review_repository
from tinymlaas.datasets.images import ACCEPTED_FORMATS, ImageRejected, inspect_image
from tinymlaas.datasets.review_schemas import ReviewDone
from tinymlaas.datasets.service import touch
from tinymlaas.errors import BadRequest, NotFound
from tinymlaas.models import Dataset, Image, ReviewItem

EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "MPO": "jpg", "BMP": "bmp", "GIF": "gif", "WEBP": "webp"}


@dataclass(frozen=True)
class KeptFrame:
    """A frame a device kept for review and what it predicted for it."""

    dataset_id: int
    device_id: int | None
    compiled_id: int | None
    seq: int | None
    label: str
    scores: Mapping[str, float]
    uncertainty: float
    reason: str
    data: bytes


def add_item(session: Session, blobs: BlobStore, frame: KeptFrame, max_pixels: int) -> ReviewItem:
    """Queue a frame once its bytes decode as an accepted image within the pixel limit."""
    try:
        info = inspect_image(frame.data, max_pixels)
    except ImageRejected as exc:
        raise BadRequest(f"review frame rejected: {exc}") from exc
    stored = blobs.put(frame.data)
    item = ReviewItem(
        dataset_id=frame.dataset_id,
        device_id=frame.device_id,
        compiled_id=frame.compiled_id,
        seq=frame.seq,
        label=frame.label[:200],
        scores={label[:200]: float(score) for label, score in frame.scores.items()},
        uncertainty=frame.uncertainty,
        reason=frame.reason[:16],
        width=info.width,
        height=info.height,
        format=info.format,
        size_bytes=stored.size_bytes,
        sha256=stored.sha256,
    )
    session.add(item)
    session.flush()
    return item


def get_item(session: Session, dataset: Dataset, item_id: int) -> ReviewItem:
    item = review_repository.get_item(session, dataset.id, item_id)
    if item is None:
        raise NotFound(f"review item {item_id} not found in dataset {dataset.id}'s queue")
    return item


def get_items(session: Session, dataset: Dataset, item_ids: Sequence[int]) -> list[ReviewItem]:
    """The items in the order asked; 404 naming every id that is not in the queue."""
    wanted = list(dict.fromkeys(item_ids))
    if not wanted:
        raise BadRequest("select at least one review item first")
    found = {item.id: item for item in review_repository.get_items(session, dataset.id, wanted)}
    missing = [item_id for item_id in wanted if item_id not in found]
    if missing:
        noun = "item" if len(missing) == 1 else "items"
        listed = ", ".join(str(item_id) for item_id in missing)
        raise NotFound(
            f"review {noun} {listed} not in dataset {dataset.id}'s queue; nothing was changed",
            missing_ids=missing,
        )
    return [found[item_id] for item_id in wanted]


def content_type(item: ReviewItem) -> str:
    return ACCEPTED_FORMATS.get(item.format, "application/octet-stream")


def label_folder(session: Session, dataset: Dataset, label: str) -> str:
    """The folder images of `label` go to: `label`, or `train/label` in a split dataset."""
    try:
        name = paths.validate_name(label.strip())
    except paths.InvalidPath as exc:
        raise BadRequest(f"label {label!r} cannot be a folder name: {exc}") from exc
    if name in paths.SPLIT_FOLDERS:
        raise BadRequest(f"label {name!r} is a split folder's name, not a class")
    return f"train/{name}" if review_repository.has_splits(session, dataset.id) else name


def file_items(
    session: Session, dataset: Dataset, items: Sequence[ReviewItem], label: str | None
) -> list[Image]:
    """Move items into the dataset as images: each under its predicted label, or `label`."""
    folders = {item.id: label_folder(session, dataset, label or item.label) for item in items}
    taken: dict[str, set[str]] = {}
    images = []
    for item in items:
        folder = folders[item.id]
        if folder not in taken:
            taken[folder] = repository.names_in_folder(session, dataset.id, folder)
            repository.add_folders(session, dataset.id, paths.ancestors(folder))
        device = f"device{item.device_id}-" if item.device_id else ""
        wanted = f"review-{device}{item.id}.{EXTENSIONS.get(item.format, 'img')}"
        name = paths.numbered_name(wanted, taken[folder])
        taken[folder].add(name)
        image_label, split = paths.classify(folder)
        image = Image(
            dataset_id=dataset.id,
            folder=folder,
            name=name,
            label=image_label,
            split=split,
            width=item.width,
            height=item.height,
            format=item.format,
            size_bytes=item.size_bytes,
            sha256=item.sha256,
        )
        session.add(image)
        images.append(image)
        session.delete(item)
    session.flush()
    touch(dataset)
    return images


def accept(session: Session, dataset: Dataset, item_ids: Sequence[int]) -> ReviewDone:
    """File each item under its predicted label."""
    images = file_items(session, dataset, get_items(session, dataset, item_ids), None)
    return _done(session, dataset, "accepted", images)


def relabel(session: Session, dataset: Dataset, item_ids: Sequence[int], label: str) -> ReviewDone:
    """File each item under `label`."""
    label_folder(session, dataset, label)  # a bad label is refused before anything moves
    images = file_items(session, dataset, get_items(session, dataset, item_ids), label)
    return _done(session, dataset, "relabelled", images)


def discard(
    session: Session, blobs: BlobStore, dataset: Dataset, item_ids: Sequence[int]
) -> ReviewDone:
    """Drop the items and their frames."""
    items = get_items(session, dataset, item_ids)
    refs = [item.sha256 for item in items]
    for item in items:
        session.delete(item)
    session.flush()
    blobs.release(refs)
    result = _done(session, dataset, "discarded", [])
    return result.model_copy(update={"count": len(items)})


def _done(session: Session, dataset: Dataset, action: str, images: list[Image]) -> ReviewDone:
    return ReviewDone(
        action=action,
        count=len(images),
        image_ids=[image.id for image in images],
        queued=review_repository.count_queued(session, dataset.id),
    )
