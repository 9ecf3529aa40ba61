"""Moving and renaming images: one at a time or many into a folder, all or nothing.

A move onto a name the folder already holds either fails (409, every clash listed) or gives the
moved image a numbered name, as file managers do: `000.jpg` becomes `000 (2).jpg`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tinymlaas.datasets import paths, repository
from tinymlaas.datasets.schemas import OnConflict
from tinymlaas.datasets.service import folder_or_error, name_or_error, touch
from tinymlaas.errors import Conflict
from tinymlaas.models import Dataset, Image

MAX_LISTED_CONFLICTS = 5


@dataclass(frozen=True)
class ImagesMoved:
    """The images in their new place; `renamed` holds the new paths of those given a new name."""

    images: list[Image]
    renamed: list[str]


def move_image(
    session: Session,
    dataset: Dataset,
    image: Image,
    folder: str | None,
    name: str | None,
    on_conflict: OnConflict = OnConflict.FAIL,
) -> Image:
    """Move and/or rename an image; moving to another folder relabels it."""
    new_folder = image.folder if folder is None else folder_or_error(folder)
    new_name = image.name if name is None else name_or_error(name)
    if (new_folder, new_name) == (image.folder, image.name):
        return image
    taken = repository.names_in_folder(session, dataset.id, new_folder)
    if new_name in taken:
        if on_conflict is OnConflict.FAIL:
            raise Conflict(f"'{paths.join(new_folder, new_name)}' already exists in this dataset")
        new_name = paths.numbered_name(new_name, taken)
    _place(session, dataset, new_folder, [(image, new_name)])
    return image


def move_images(
    session: Session,
    dataset: Dataset,
    images: Sequence[Image],
    folder: str,
    on_conflict: OnConflict = OnConflict.FAIL,
) -> ImagesMoved:
    """Move images into `folder` (relabelling them); with FAIL any clash moves none of them."""
    target = folder_or_error(folder)
    existing = repository.names_in_folder(session, dataset.id, target)
    taken = set(existing)
    planned: list[tuple[Image, str]] = []
    conflicts: list[dict[str, str]] = []
    for image in images:
        if image.folder == target:
            continue
        name = image.name
        if name in taken and on_conflict is OnConflict.RENAME:
            name = paths.numbered_name(name, taken)
        elif name in taken:
            where = paths.join(target, name)
            problem = (
                f"'{where}' already exists in this dataset"
                if name in existing
                else f"another selected image is also moved to '{where}'"
            )
            conflicts.append({"entry": image.path, "problem": problem})
            continue
        taken.add(name)
        planned.append((image, name))
    if conflicts:
        raise _refusal(conflicts)
    renamed = [paths.join(target, name) for image, name in planned if name != image.name]
    _place(session, dataset, target, planned)
    return ImagesMoved(list(images), renamed)


def _refusal(conflicts: list[dict[str, str]]) -> Conflict:
    """One 409 for the whole move, naming each image that would clash (like a rejected upload)."""
    listed = "; ".join(
        f"{conflict['entry']}: {conflict['problem']}"
        for conflict in conflicts[:MAX_LISTED_CONFLICTS]
    )
    more = len(conflicts) - MAX_LISTED_CONFLICTS
    detail = f"nothing was moved: {listed}" + (f" (and {more} more)" if more > 0 else "")
    return Conflict(detail, errors=conflicts)


def _place(
    session: Session, dataset: Dataset, folder: str, moves: Sequence[tuple[Image, str]]
) -> None:
    """Put each image in `folder` under its new name, relabelled."""
    if not moves:
        return
    repository.add_folders(session, dataset.id, paths.ancestors(folder))
    label, split = paths.classify(folder)
    for image, name in moves:
        image.folder, image.name = folder, name
        image.label, image.split = label, split
    touch(dataset)
    session.flush()
