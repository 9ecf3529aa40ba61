"""Rules of dataset versions: immutable snapshots of a dataset's rows. Flushes; the caller
commits.

A version copies the dataset's image rows (path, label, split, blob), never the bytes: blobs
are content-addressed, and a version row is a foreign key to its blob, so the blob store never
frees bytes a version still holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from tinymlaas.blobs import BlobStore
from tinymlaas.datasets import repository as datasets_repository
from tinymlaas.datasets import version_diff
from tinymlaas.datasets import versions_repository as repository
from tinymlaas.datasets.schemas import NameCount
from tinymlaas.datasets.version_diff import Row
from tinymlaas.datasets.version_schemas import (
    LabelChangeRead,
    ModelRef,
    RelabelRead,
    VersionDiffRead,
    VersionRead,
)
from tinymlaas.errors import BadRequest, Conflict, NotFound
from tinymlaas.models import Dataset, DatasetVersion, User


def _state(session: Session, dataset: Dataset) -> tuple[list[str], list[Row], str]:
    folders = datasets_repository.folder_paths(session, dataset.id)
    rows = repository.dataset_rows(session, dataset.id)
    return folders, rows, version_diff.fingerprint(folders, rows)


def _snapshot(
    session: Session, dataset: Dataset, note: str, state: tuple[list[str], list[Row], str]
) -> DatasetVersion:
    folders, rows, fingerprint = state
    version = DatasetVersion(
        owner_id=dataset.owner_id,
        dataset_id=dataset.id,
        dataset_name=dataset.name,
        number=repository.next_number(session, dataset.id),
        note=note,
        fingerprint=fingerprint,
        image_count=len(rows),
        size_bytes=sum(row.size_bytes for row in rows),
        labels=version_diff.name_counts(row.label for row in rows),
        splits=version_diff.name_counts(row.split for row in rows),
        folders=folders,
    )
    session.add(version)
    session.flush()
    repository.insert_rows(session, version.id, rows)
    return version


def create_version(session: Session, dataset: Dataset, note: str) -> DatasetVersion:
    """A new version of the dataset as it is now; 409 when the latest one already is that."""
    repository.lock_dataset(session, dataset.id)
    state = _state(session, dataset)
    latest = repository.latest(session, dataset.id)
    if latest is not None and latest.fingerprint == state[2]:
        raise Conflict(
            f"dataset '{dataset.name}' has not changed since version {latest.number}",
            version=latest.number,
        )
    return _snapshot(session, dataset, note.strip(), state)


def current_version(session: Session, dataset: Dataset, note: str) -> DatasetVersion:
    """The latest version when the dataset has not changed since, else a new one (training
    records the version it learns from this way)."""
    repository.lock_dataset(session, dataset.id)
    state = _state(session, dataset)
    latest = repository.latest(session, dataset.id)
    if latest is not None and latest.fingerprint == state[2]:
        return latest
    return _snapshot(session, dataset, note, state)


def get_version(session: Session, dataset: Dataset, number: int) -> DatasetVersion:
    version = repository.get_by_number(session, dataset.id, number)
    if version is None:
        raise NotFound(f"dataset {dataset.id} has no version {number}")
    return version


def get_owned_version(session: Session, owner: User, version_id: int) -> DatasetVersion:
    """A version by its id, also once its dataset is gone (a model's page links to it)."""
    version = repository.get_owned(session, owner.id, version_id)
    if version is None:
        raise NotFound(f"dataset version {version_id} not found")
    return version


def describe(session: Session, versions: Sequence[DatasetVersion]) -> list[VersionRead]:
    """Versions with the models that learnt from them, in two queries however many."""
    used = repository.models_using(session, [version.id for version in versions])
    return [
        VersionRead(
            id=version.id,
            dataset_id=version.dataset_id,
            dataset_name=version.dataset_name,
            number=version.number,
            note=version.note,
            fingerprint=version.fingerprint,
            image_count=version.image_count,
            size_bytes=version.size_bytes,
            labels=[NameCount.model_validate(item) for item in version.labels],
            splits=[NameCount.model_validate(item) for item in version.splits],
            folders=list(version.folders),
            created_at=version.created_at,
            models=[ModelRef(id=i, name=name) for i, name in used.get(version.id, [])],
        )
        for version in versions
    ]


def diff(
    session: Session, dataset: Dataset, from_number: int, to_number: int | None
) -> VersionDiffRead:
    """What changed from one version to another (or to the dataset as it is now), per label."""
    if to_number is not None and to_number == from_number:
        raise BadRequest("choose two different versions to compare")
    before = repository.version_rows(session, get_version(session, dataset, from_number).id)
    if to_number is None:
        after = repository.dataset_rows(session, dataset.id)
    else:
        after = repository.version_rows(session, get_version(session, dataset, to_number).id)
    found = version_diff.diff(
        ((row.sha256, row.label) for row in before), ((row.sha256, row.label) for row in after)
    )
    return VersionDiffRead(
        from_version=from_number,
        to_version=to_number,
        added=found.added,
        removed=found.removed,
        relabelled=found.relabelled,
        unchanged=found.unchanged,
        labels=[LabelChangeRead(**vars(change)) for change in found.labels],
        relabels=[
            RelabelRead(from_label=source, to_label=target, count=count)
            for (source, target), count in sorted(
                found.relabels.items(), key=lambda item: (str(item[0][0]), str(item[0][1]))
            )
        ],
    )


def labelled_rows(session: Session, version_id: int) -> list[tuple[int, str, str, str | None]]:
    """(image id, sha256, label, split) of the version's labelled images, by image id: what
    training reads instead of the live images."""
    rows = sorted(repository.version_rows(session, version_id), key=lambda row: row.image_id)
    return [(row.image_id, row.sha256, row.label, row.split) for row in rows if row.label]


def delete_version(
    session: Session, blobs: BlobStore, dataset: Dataset, version: DatasetVersion
) -> None:
    """Delete a version no model learnt from; 409 naming the models otherwise."""
    used = repository.models_using(session, [version.id]).get(version.id, [])
    if used:
        names = ", ".join(f"{name} (id {model_id})" for model_id, name in used)
        raise Conflict(
            f"version {version.number} of dataset '{dataset.name}' is what {names} learnt"
            " from; delete those models first",
            models=[{"id": model_id, "name": name} for model_id, name in used],
        )
    refs = repository.blobs_of_versions(session, [version.id])
    repository.delete_versions(session, [version.id])
    session.flush()
    blobs.release(refs)


def forget_dataset(session: Session, dataset_id: int) -> list[str]:
    """Before a dataset is deleted: drop its versions no model uses, keep (detached) the ones
    models learnt from. Returns the blobs the dropped ones held, for the caller to release."""
    version_ids = repository.version_ids_of_dataset(session, dataset_id)
    used = repository.models_using(session, version_ids)
    unused = [version_id for version_id in version_ids if version_id not in used]
    refs = repository.blobs_of_versions(session, unused)
    repository.delete_versions(session, unused)
    repository.detach_versions(session, list(used))
    return refs


def release_if_orphaned(session: Session, blobs: BlobStore, version_id: int | None) -> None:
    """After a model is deleted: a version kept only for models, whose dataset is gone and
    which no model uses any more, goes with its blobs."""
    if version_id is None:
        return
    version = session.get(DatasetVersion, version_id)
    if version is None or version.dataset_id is not None:
        return
    if repository.models_using(session, [version_id]):
        return
    refs = repository.blobs_of_versions(session, [version_id])
    repository.delete_versions(session, [version_id])
    session.flush()
    blobs.release(refs)
