"""Blobs as rows: a `blobs` row per sha256 and its bytes in 1 MiB `blob_chunks` rows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, not_, select
from sqlalchemy.orm import Session

from tinymlaas.blobs.store import StoredBlob, sha256_hex
from tinymlaas.db.base import Base
from tinymlaas.db.insert import insert_ignoring_duplicates
from tinymlaas.errors import NotFound
from tinymlaas.models.blob import Blob, BlobChunk

CHUNK_BYTES = 1024 * 1024
_BATCH = 500


class DatabaseBlobStore:
    """Stores blobs inside the session's database; flushes, never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def put(self, data: bytes) -> StoredBlob:
        return self.put_many([data])[0]

    def put_many(self, items: Iterable[bytes]) -> list[StoredBlob]:
        """Store each distinct content once; safe against concurrent writers of the same bytes."""
        datas = list(items)
        stored = [StoredBlob(sha256_hex(data), len(data)) for data in datas]
        new: dict[str, bytes] = {}
        for blob, data in zip(stored, datas, strict=True):
            new.setdefault(blob.sha256, data)
        for shas in batched(list(new), _BATCH):
            present = self.session.scalars(select(Blob.sha256).where(Blob.sha256.in_(shas)))
            for sha in present:
                new.pop(sha, None)
        if new:
            blob_rows = [
                {"sha256": sha, "size_bytes": len(data), "chunk_count": _chunk_count(data)}
                for sha, data in new.items()
            ]
            chunk_rows = [
                {"sha256": sha, "seq": seq, "data": data[start : start + CHUNK_BYTES]}
                for sha, data in new.items()
                for seq, start in enumerate(range(0, max(len(data), 1), CHUNK_BYTES))
            ]
            for rows in batched(blob_rows, _BATCH):
                self.session.execute(insert_ignoring_duplicates(self.session, Blob), rows)
            for chunk_batch in _batches_by_bytes(chunk_rows):
                self.session.execute(
                    insert_ignoring_duplicates(self.session, BlobChunk), chunk_batch
                )
        return stored

    def get(self, sha256: str) -> bytes:
        return b"".join(self.iter_chunks(sha256))

    def iter_chunks(self, sha256: str) -> Iterator[bytes]:
        """Yield the blob's bytes a chunk at a time (one query per chunk keeps memory flat)."""
        chunk_count = self.session.scalar(select(Blob.chunk_count).where(Blob.sha256 == sha256))
        if chunk_count is None:
            raise NotFound(f"blob {sha256} not found")
        for seq in range(chunk_count):
            yield self.session.scalars(
                select(BlobChunk.data).where(BlobChunk.sha256 == sha256, BlobChunk.seq == seq)
            ).one()

    def get_many(self, sha256s: Iterable[str]) -> dict[str, bytes]:
        """Whole contents of several blobs in one query per batch (for small blobs like images)."""
        parts: dict[str, list[bytes]] = {}
        for shas in batched(dict.fromkeys(sha256s), _BATCH):
            rows = self.session.execute(
                select(BlobChunk.sha256, BlobChunk.data)
                .where(BlobChunk.sha256.in_(shas))
                .order_by(BlobChunk.sha256, BlobChunk.seq)
            )
            for sha, data in rows:
                parts.setdefault(sha, []).append(data)
        return {sha: b"".join(chunks) for sha, chunks in parts.items()}

    def release(self, sha256s: Iterable[str]) -> int:
        """Delete those of the given blobs that no table refers to any more; returns how many."""
        candidates = list(dict.fromkeys(sha for sha in sha256s if sha))
        freed = 0
        for shas in batched(candidates, _BATCH):
            unreferenced = list(
                self.session.scalars(
                    select(Blob.sha256).where(Blob.sha256.in_(shas), *_not_referenced())
                )
            )
            if unreferenced:
                self.session.execute(delete(BlobChunk).where(BlobChunk.sha256.in_(unreferenced)))
                self.session.execute(delete(Blob).where(Blob.sha256.in_(unreferenced)))
                freed += len(unreferenced)
        return freed


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of at most `size` items (itertools.batched is Python 3.12+)."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _chunk_count(data: bytes) -> int:
    return max(1, -(-len(data) // CHUNK_BYTES))


def _batches_by_bytes(
    rows: list[dict[str, Any]], limit: int = 8 * CHUNK_BYTES
) -> Iterator[list[dict[str, Any]]]:
    """Group rows so one INSERT stays well under MariaDB's 16 MiB packet limit."""
    batch: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        if batch and (size + len(row["data"]) > limit or len(batch) >= _BATCH):
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += len(row["data"])
    if batch:
        yield batch


def _not_referenced() -> list[ColumnElement[bool]]:
    """One NOT EXISTS per column anywhere in the schema that refers to blobs.sha256."""
    conditions: list[ColumnElement[bool]] = []
    blob_sha = Blob.__table__.c.sha256
    for table in Base.metadata.tables.values():
        if table.name == BlobChunk.__tablename__:
            continue
        for foreign_key in table.foreign_keys:
            if foreign_key.column is blob_sha:
                column = foreign_key.parent
                conditions.append(not_(exists().where(and_(column == blob_sha))))
    return conditions
