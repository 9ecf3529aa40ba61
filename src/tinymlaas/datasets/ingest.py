"""Adding images to a dataset from zips and single uploads, all or nothing."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from sqlalchemy import insert
from sqlalchemy.orm import Session

from tinymlaas.blobs import BlobStore
from tinymlaas.config import Settings
from tinymlaas.datasets import paths, repository
from tinymlaas.datasets.images import ImageRejected, inspect_image
from tinymlaas.datasets.skipping import DOCUMENTATION, IgnoredEntry, is_documentation
from tinymlaas.datasets.zipio import EntryProblem, ZipLimits, ZipRejected, open_zip
from tinymlaas.db.base import utcnow
from tinymlaas.errors import BadRequest, Conflict
from tinymlaas.models import Dataset, Image

MAX_REPORTED_PROBLEMS = 100
_BATCH = 200


@dataclass(frozen=True)
class Upload:
    """One uploaded file: an image, or a zip of images and folders."""

    filename: str
    file: BinaryIO


@dataclass(frozen=True)
class Candidate:
    entry: str  # how the user named it: the upload's file name or the zip entry
    folder: str
    name: str
    data: bytes


@dataclass(frozen=True)
class Ingested:
    """What an upload stored, and the documentation files it skipped."""

    added: int
    ignored: list[IgnoredEntry]


@dataclass
class Ingest:
    """Validates candidates and inserts them in batches; problems are collected, not raised."""

    session: Session
    blobs: BlobStore
    dataset: Dataset
    max_pixels: int
    # A dataset created by this same request cannot hold any of the paths yet.
    is_new_dataset: bool = False
    problems: list[EntryProblem] = field(default_factory=list)
    ignored: list[IgnoredEntry] = field(default_factory=list)
    added: int = 0
    _pending: list[tuple[Candidate, str, int, int]] = field(default_factory=list)
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def add(self, candidate: Candidate) -> None:
        key = (candidate.folder, candidate.name)
        if key in self._seen:
            self._problem(candidate.entry, f"'{paths.join(*key)}' is given more than once")
            return
        self._seen.add(key)
        try:
            info = inspect_image(candidate.data, self.max_pixels)
        except ImageRejected as exc:
            self._problem(candidate.entry, str(exc))
            return
        if not self.problems:
            self._pending.append((candidate, info.format, info.width, info.height))
            if len(self._pending) >= _BATCH:
                self.flush()

    def flush(self) -> None:
        """Insert the pending images (skipped once any problem makes the whole upload fail)."""
        pending, self._pending = self._pending, []
        if self.problems or not pending:
            return
        taken = (
            set()
            if self.is_new_dataset
            else repository.existing_paths(
                self.session, self.dataset.id, [(c.folder, c.name) for c, *_ in pending]
            )
        )
        for candidate, *_ in pending:
            if (candidate.folder, candidate.name) in taken:
                path = paths.join(candidate.folder, candidate.name)
                self._problem(candidate.entry, f"'{path}' already exists in the dataset")
        if self.problems:
            return
        stored = self.blobs.put_many(candidate.data for candidate, *_ in pending)
        repository.add_folders(
            self.session,
            self.dataset.id,
            {ancestor for c, *_ in pending for ancestor in paths.ancestors(c.folder)},
        )
        rows = []
        for (candidate, image_format, width, height), blob in zip(pending, stored, strict=True):
            label, split = paths.classify(candidate.folder)
            rows.append(
                {
                    "dataset_id": self.dataset.id,
                    "folder": candidate.folder,
                    "name": candidate.name,
                    "label": label,
                    "split": split,
                    "width": width,
                    "height": height,
                    "format": image_format,
                    "size_bytes": blob.size_bytes,
                    "sha256": blob.sha256,
                }
            )
        self.session.execute(insert(Image), rows)
        self.added += len(rows)

    def finish(self) -> Ingested:
        """Insert what is left, or raise with every problem found."""
        self.flush()
        if self.problems:
            raise rejection(self.problems)
        self.dataset.updated_at = utcnow()
        self.session.flush()
        return Ingested(self.added, self.ignored)

    def _problem(self, entry: str, problem: str) -> None:
        if len(self.problems) < MAX_REPORTED_PROBLEMS:
            self.problems.append(EntryProblem(entry=entry, problem=problem))
        else:
            # Past the cap, keep one marker so the caller still fails the upload.
            self.problems[-1] = EntryProblem(entry="…", problem="more problems not listed")


def zip_limits(settings: Settings) -> ZipLimits:
    """The configured bounds on uploaded zips."""
    return ZipLimits(
        max_entries=settings.max_zip_entries,
        max_entry_bytes=settings.max_zip_entry_bytes,
        max_total_bytes=settings.max_zip_total_bytes,
        max_compression_ratio=settings.max_zip_compression_ratio,
    )


def rejection(problems: list[EntryProblem]) -> BadRequest | Conflict:
    """One error for the whole upload, naming each offending entry."""
    errors = [{"entry": p.entry, "problem": p.problem} for p in problems]
    listed = "; ".join(f"{p.entry}: {p.problem}" if p.entry else p.problem for p in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    detail = f"upload rejected, nothing was stored: {listed}{more}"
    if all("already exists" in p.problem for p in problems):
        return Conflict(detail, errors=errors)
    return BadRequest(detail, errors=errors)


def zip_candidates(
    upload: Upload, folder: str, limits: ZipLimits
) -> tuple[list[str], list[IgnoredEntry], Iterator[Candidate]]:
    """The folders of a zip (under `folder`), the files it skips and a lazy stream of the rest."""
    try:
        plan = open_zip(upload.file, limits)
    except ZipRejected as exc:
        named = [EntryProblem(p.entry or upload.filename, p.problem) for p in exc.problems]
        raise rejection(named) from exc

    def files() -> Iterator[Candidate]:
        with plan:
            for entry in plan.files:
                data = plan.read(entry)
                yield Candidate(
                    entry=entry.entry,
                    folder=_under(folder, entry.folder),
                    name=entry.name,
                    data=data,
                )

    return [_under(folder, path) for path in plan.folders], plan.ignored, files()


def _under(folder: str, path: str) -> str:
    joined = f"{folder}/{path}" if folder and path else folder or path
    try:
        return paths.normalize_folder(joined)
    except paths.InvalidPath as exc:
        raise BadRequest(str(exc)) from exc


def import_zip(
    session: Session,
    blobs: BlobStore,
    dataset: Dataset,
    upload: Upload,
    limits: ZipLimits,
    max_pixels: int,
) -> Ingested:
    """Fill a new dataset from a zip; raises (and the caller rolls back) on any bad entry."""
    ingest = Ingest(session, blobs, dataset, max_pixels, is_new_dataset=True)
    folders = _add_zip(ingest, upload, "", limits)
    ingested = ingest.finish()
    repository.add_folders(session, dataset.id, folders)
    return ingested


def add_uploads(
    session: Session,
    blobs: BlobStore,
    dataset: Dataset,
    uploads: list[Upload],
    folder: str,
    limits: ZipLimits,
    max_pixels: int,
) -> Ingested:
    """Append images and zips to `folder` of a dataset; all or nothing."""
    if not uploads:
        raise BadRequest("no files given")
    target = _under(folder, "")
    ingest = Ingest(session, blobs, dataset, max_pixels)
    folders: set[str] = set(paths.ancestors(target))
    for upload in uploads:
        if _is_zip(upload.file):
            folders.update(_add_zip(ingest, upload, target, limits))
        else:
            name = upload.filename.replace("\\", "/").rsplit("/", 1)[-1]
            try:
                paths.validate_name(name)
            except paths.InvalidPath as exc:
                ingest.problems.append(EntryProblem(upload.filename or "(unnamed)", str(exc)))
                continue
            if is_documentation(name):
                ingest.ignored.append(IgnoredEntry(name, DOCUMENTATION))
                continue
            data = upload.file.read(limits.max_entry_bytes + 1)
            if len(data) > limits.max_entry_bytes:
                ingest.problems.append(
                    EntryProblem(name, f"file is larger than {limits.max_entry_bytes} bytes")
                )
                continue
            ingest.add(Candidate(entry=name, folder=target, name=name, data=data))
    ingested = ingest.finish()
    repository.add_folders(session, dataset.id, folders)
    return ingested


def _add_zip(ingest: Ingest, upload: Upload, folder: str, limits: ZipLimits) -> set[str]:
    """Feed a zip's images to `ingest`; returns every folder the zip defines (with ancestors)."""
    zip_folders, ignored, candidates = zip_candidates(upload, folder, limits)
    ingest.ignored.extend(ignored)
    try:
        for candidate in candidates:
            ingest.add(candidate)
    except ZipRejected as exc:
        raise rejection(ingest.problems + exc.problems) from exc
    return {ancestor for path in zip_folders for ancestor in paths.ancestors(path)}


def _is_zip(file: BinaryIO) -> bool:
    position = file.tell()
    try:
        return zipfile.is_zipfile(file)
    finally:
        file.seek(position)
