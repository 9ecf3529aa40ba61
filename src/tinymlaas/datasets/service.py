"""Rules of datasets, their images and folders. Flushes; the caller commits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.orm import Session

from tinymlaas.blobs import BlobStore
from tinymlaas.config import Settings
from tinymlaas.datasets import ingest, paths, repository, review_repository, versions
from tinymlaas.datasets.images import ACCEPTED_FORMATS, make_thumbnail
from tinymlaas.datasets.schemas import (
    DatasetCreate,
    DatasetRead,
    DatasetUpdate,
    DatasetUploadRead,
    FolderRead,
    IgnoredEntry,
    NameCount,
)
from tinymlaas.db.base import utcnow
from tinymlaas.errors import BadRequest, Conflict, NotFound
from tinymlaas.models import Dataset, Image, User


def folder_or_error(path: str) -> str:
    """Canonical folder path, or a 400 that says what is wrong with it."""
    try:
        return paths.normalize_folder(path)
    except paths.InvalidPath as exc:
        raise BadRequest(str(exc)) from exc


def name_or_error(name: str) -> str:
    try:
        return paths.validate_name(name)
    except paths.InvalidPath as exc:
        raise BadRequest(str(exc)) from exc


# Datasets


def create_dataset(session: Session, owner: User, name: str, description: str = "") -> Dataset:
    name = name.strip()
    if not name:
        raise BadRequest("dataset name must not be empty")
    if repository.dataset_name_taken(session, owner.id, name):
        raise Conflict(f"you already have a dataset named '{name}'")
    dataset = Dataset(owner_id=owner.id, name=name, description=description)
    session.add(dataset)
    session.flush()
    return dataset


def import_dataset(
    session: Session,
    blobs: BlobStore,
    owner: User,
    fields: DatasetCreate,
    upload: ingest.Upload,
    settings: Settings,
) -> DatasetUploadRead:
    """A new dataset filled from a zip; any bad entry fails it all (the caller rolls back)."""
    dataset = create_dataset(session, owner, fields.name, fields.description)
    ingested = ingest.import_zip(
        session,
        blobs,
        dataset,
        upload,
        ingest.zip_limits(settings),
        settings.max_image_pixels,
    )
    return _uploaded(session, dataset, ingested)


def _uploaded(session: Session, dataset: Dataset, ingested: ingest.Ingested) -> DatasetUploadRead:
    ignored = [IgnoredEntry(entry=item.entry, reason=item.reason) for item in ingested.ignored]
    return DatasetUploadRead(**describe(session, [dataset])[0].model_dump(), ignored=ignored)


def get_dataset(
    session: Session, owner: User, dataset_id: int, *, for_update: bool = False
) -> Dataset:
    """The user's dataset or 404; changes lock it first (no deadlocks, no lost updates)."""
    dataset = repository.get_dataset(session, owner.id, dataset_id, for_update=for_update)
    if dataset is None:
        raise NotFound(f"dataset {dataset_id} not found")
    return dataset


def update_dataset(session: Session, dataset: Dataset, changes: DatasetUpdate) -> Dataset:
    values = changes.model_dump(exclude_unset=True)
    if values.get("name") is not None:
        name = values["name"].strip()
        if not name:
            raise BadRequest("dataset name must not be empty")
        if repository.dataset_name_taken(session, dataset.owner_id, name, exclude_id=dataset.id):
            raise Conflict(f"you already have a dataset named '{name}'")
        dataset.name = name
    if values.get("description") is not None:
        dataset.description = values["description"]
    touch(dataset)
    session.flush()
    return dataset


def delete_dataset(session: Session, blobs: BlobStore, dataset: Dataset) -> None:
    """Delete a dataset; the versions models learnt from stay (without it), the others go."""
    refs = repository.blob_refs_of_dataset(session, dataset.id)
    refs += versions.forget_dataset(session, dataset.id)
    refs += review_repository.frame_refs(session, dataset.id)  # its review queue goes with it
    repository.delete_dataset_rows(session, dataset.id)
    blobs.release(refs)


def touch(dataset: Dataset) -> None:
    dataset.updated_at = utcnow()


def describe(
    session: Session | Connection, datasets: Sequence[Dataset] | Sequence[Row[Any]]
) -> list[DatasetRead]:
    """Datasets (objects or Core rows) with their counts, in a fixed number of queries however
    many there are."""
    ids = [dataset.id for dataset in datasets]
    if not ids:
        return []
    groups = repository.image_groups(session, ids)
    described = []
    for dataset in datasets:
        labels: Counter[str] = Counter()
        splits: Counter[str] = Counter()
        count = size = 0
        for label, split, images, size_bytes in groups.get(dataset.id, []):
            count, size = count + images, size + size_bytes
            if label is not None:
                labels[label] += images
            if split is not None:
                splits[split] += images
        described.append(
            DatasetRead(
                id=dataset.id,
                name=dataset.name,
                description=dataset.description,
                image_count=count,
                size_bytes=size,
                labels=[NameCount(name=n, count=c) for n, c in sorted(labels.items())],
                splits=[NameCount(name=n, count=c) for n, c in sorted(splits.items())],
                created_at=dataset.created_at,
                updated_at=dataset.updated_at,
            )
        )
    return described


# Images


@dataclass(frozen=True)
class ImagesAdded:
    added: int
    folder: str
    dataset: DatasetUploadRead


def add_images(
    session: Session,
    blobs: BlobStore,
    dataset: Dataset,
    uploads: list[ingest.Upload],
    folder: str,
    settings: Settings,
) -> ImagesAdded:
    """Images and zips of images added to a folder, all or nothing."""
    ingested = ingest.add_uploads(
        session,
        blobs,
        dataset,
        uploads,
        folder,
        ingest.zip_limits(settings),
        settings.max_image_pixels,
    )
    return ImagesAdded(
        ingested.added, folder_or_error(folder), _uploaded(session, dataset, ingested)
    )


def get_image(session: Session, dataset: Dataset, image_id: int) -> Image:
    image = repository.get_image(session, dataset.id, image_id)
    if image is None:
        raise NotFound(f"image {image_id} not found in dataset {dataset.id}")
    return image


def get_images(session: Session, dataset: Dataset, image_ids: Sequence[int]) -> list[Image]:
    """Several images of the dataset in one query; 404 naming the first one that is missing."""
    if not image_ids:
        raise BadRequest("select at least one image first")
    found = {image.id: image for image in repository.get_images(session, dataset.id, image_ids)}
    for image_id in image_ids:
        if image_id not in found:
            raise NotFound(f"image {image_id} not found in dataset {dataset.id}")
    return [found[image_id] for image_id in dict.fromkeys(image_ids)]


def content_type(image: Image) -> str:
    return ACCEPTED_FORMATS.get(image.format, "application/octet-stream")


def thumbnail(session: Session, blobs: BlobStore, image: Image) -> bytes:
    """The image's thumbnail, made and stored on first request."""
    if image.thumbnail_sha256:
        return blobs.get(image.thumbnail_sha256)
    data = make_thumbnail(blobs.get(image.sha256))
    image.thumbnail_sha256 = blobs.put(data).sha256
    session.flush()
    return data


def delete_image(session: Session, blobs: BlobStore, dataset: Dataset, image: Image) -> None:
    refs = [image.sha256, image.thumbnail_sha256 or ""]
    session.delete(image)
    session.flush()
    blobs.release(refs)
    touch(dataset)


# Folders


def list_folders(session: Session, dataset: Dataset) -> list[FolderRead]:
    direct = repository.image_counts_by_folder(session, dataset.id)
    folders = repository.folder_paths(session, dataset.id)
    result = []
    for path in folders:
        label, split = paths.classify(path)
        total = sum(count for folder, count in direct.items() if paths.is_within(folder, path))
        result.append(
            FolderRead(
                path=path,
                label=label,
                split=split,
                image_count=direct.get(path, 0),
                total_image_count=total,
            )
        )
    return result


def get_folder(session: Session, dataset: Dataset, path: str) -> str:
    folder = folder_or_error(path)
    if not folder:
        raise BadRequest("the root folder cannot be changed")
    if not repository.folder_exists(session, dataset.id, folder):
        raise NotFound(f"folder '{folder}' not found in dataset {dataset.id}")
    return folder


def create_folder(session: Session, dataset: Dataset, path: str) -> FolderRead:
    folder = folder_or_error(path)
    if not folder:
        raise BadRequest("folder path must not be empty")
    if repository.folder_exists(session, dataset.id, folder):
        raise Conflict(f"folder '{folder}' already exists")
    repository.add_folders(session, dataset.id, paths.ancestors(folder))
    touch(dataset)
    label, split = paths.classify(folder)
    return FolderRead(path=folder, label=label, split=split, image_count=0, total_image_count=0)


def rename_folder(session: Session, dataset: Dataset, old: str, new_path: str) -> FolderRead:
    """Rename or move a folder with everything inside it; the images are relabelled."""
    new = folder_or_error(new_path)
    if not new:
        raise BadRequest("the new folder path must not be empty")
    if new == old:
        raise BadRequest(f"folder '{old}' already has that path")
    if paths.is_within(new, old):
        raise BadRequest(f"cannot move folder '{old}' into itself ('{new}')")
    if repository.folder_exists(session, dataset.id, new):
        raise Conflict(f"folder '{new}' already exists")

    def moved(path: str) -> str:
        result = new + path[len(old) :]
        if len(result) > paths.MAX_FOLDER_LENGTH:
            raise BadRequest(
                f"'{result}' would be longer than {paths.MAX_FOLDER_LENGTH} characters"
            )
        return result

    for row in repository.folders_within(session, dataset.id, old):
        row.path = moved(row.path)
    images = repository.images_within(session, dataset.id, old)
    for image in images:
        image.folder = moved(image.folder)
        image.label, image.split = paths.classify(image.folder)
    session.flush()
    repository.add_folders(session, dataset.id, paths.ancestors(new))
    touch(dataset)
    label, split = paths.classify(new)
    direct = sum(1 for image in images if image.folder == new)
    return FolderRead(
        path=new, label=label, split=split, image_count=direct, total_image_count=len(images)
    )


def delete_folder(
    session: Session, blobs: BlobStore, dataset: Dataset, folder: str, *, recursive: bool
) -> None:
    images = repository.images_within(session, dataset.id, folder)
    folders = repository.folders_within(session, dataset.id, folder)
    if not recursive and (images or len(folders) > 1):
        raise Conflict(
            f"folder '{folder}' is not empty ({len(images)} images, {len(folders) - 1} subfolders);"
            " delete with recursive=true to remove everything in it",
        )
    refs = [sha for image in images for sha in (image.sha256, image.thumbnail_sha256) if sha]
    repository.delete_images(session, [image.id for image in images])
    for row in folders:
        session.delete(row)
    session.flush()
    blobs.release(refs)
    touch(dataset)


def split_or_error(split: str) -> str:
    """Canonical split name ("val" means "validation")."""
    canonical = paths.SPLIT_FOLDERS.get(split)
    if canonical is None:
        raise BadRequest(f"unknown split '{split}'; use train, validation or test")
    return canonical
