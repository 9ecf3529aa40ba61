"""The blob store interface; the database implementation is the only one built so far."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size_bytes: int


class BlobStore(Protocol):
    """Identical bytes are stored once; `release` frees what nothing refers to any more."""

    def put(self, data: bytes) -> StoredBlob: ...

    def put_many(self, items: Iterable[bytes]) -> list[StoredBlob]: ...

    def get(self, sha256: str) -> bytes: ...

    def iter_chunks(self, sha256: str) -> Iterator[bytes]: ...

    def get_many(self, sha256s: Iterable[str]) -> dict[str, bytes]: ...

    def release(self, sha256s: Iterable[str]) -> int: ...
