"""The database blob store on each backend: dedup, chunking, freeing, concurrent writers."""

from __future__ import annotations

import os
import threading

from sqlalchemy import func, select

from tinymlaas.blobs import DatabaseBlobStore, sha256_hex
from tinymlaas.blobs.database import CHUNK_BYTES
from tinymlaas.db.session import transaction
from tinymlaas.models import Blob, BlobChunk


def test_big_blob_is_chunked_and_read_back_identically(database) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(2 * CHUNK_BYTES + 12345)
    with transaction(database.factory) as session:
        stored = DatabaseBlobStore(session).put(data)
    assert stored.sha256 == sha256_hex(data)
    assert stored.size_bytes == len(data)
    with database.factory() as session:
        store = DatabaseBlobStore(session)
        chunks = list(store.iter_chunks(stored.sha256))
        assert [len(chunk) for chunk in chunks] == [CHUNK_BYTES, CHUNK_BYTES, 12345]
        assert store.get(stored.sha256) == data
        assert store.get_many([stored.sha256]) == {stored.sha256: data}


def test_identical_bytes_are_stored_once(database) -> None:  # type: ignore[no-untyped-def]
    with transaction(database.factory) as session:
        store = DatabaseBlobStore(session)
        first = store.put_many([b"same", b"same", b"other", b""])
        second = store.put(b"same")
    assert first[0] == first[1] == second
    with database.factory() as session:
        assert session.scalar(select(func.count()).select_from(Blob)) == 3
        assert DatabaseBlobStore(session).get(sha256_hex(b"")) == b""


def test_release_frees_only_unreferenced_blobs(database) -> None:  # type: ignore[no-untyped-def]
    with transaction(database.factory) as session:
        store = DatabaseBlobStore(session)
        kept, freed = store.put_many([b"kept", b"freed"])
        from tinymlaas.models import Dataset, Image, User

        user = User(username="u", password_hash="x")
        session.add(user)
        session.flush()
        dataset = Dataset(owner_id=user.id, name="d", description="")
        session.add(dataset)
        session.flush()
        session.add(
            Image(
                dataset_id=dataset.id,
                folder="",
                name="a.png",
                width=1,
                height=1,
                format="PNG",
                size_bytes=4,
                sha256=kept.sha256,
            )
        )
        session.flush()
        assert store.release([kept.sha256, freed.sha256]) == 1
    with database.factory() as session:
        remaining = set(session.scalars(select(Blob.sha256)))
        assert remaining == {kept.sha256}
        chunk_owners = set(session.scalars(select(BlobChunk.sha256)))
        assert chunk_owners == {kept.sha256}


def test_concurrent_writers_of_the_same_bytes_both_succeed(database) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(50_000)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with transaction(database.factory) as session:
                store = DatabaseBlobStore(session)
                barrier.wait()
                store.put(data)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with database.factory() as session:
        assert session.scalar(select(func.count()).select_from(Blob)) == 1
        assert DatabaseBlobStore(session).get(sha256_hex(data)) == data
