"""Streaming a dataset out as a zip: memory stays flat however big the dataset is."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import StreamingResponse
from zipstream import ZIP_STORED, ZipStream

from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.datasets import repository
from tinymlaas.models import DatasetVersion, DatasetVersionImage, Image

PREFETCH_IMAGES = 200
SEND_BYTES = 64 * 1024


class _Prefetcher:
    """Serves image bytes in the order the zip asks for them, loading a batch per query."""

    def __init__(self, session: Session, shas: list[str]) -> None:
        self.blobs = DatabaseBlobStore(session)
        self.shas = shas
        self.next_index = 0
        self.cache: dict[str, bytes] = {}

    def data(self, index: int) -> Iterator[bytes]:
        sha = self.shas[index]
        if sha not in self.cache:
            self.cache.clear()
            batch = self.shas[index : index + PREFETCH_IMAGES]
            self.cache = self.blobs.get_many(batch)
        yield self.cache[sha]


def zip_stream(factory: sessionmaker[Session], dataset_id: int) -> tuple[int, Iterator[bytes]]:
    """The exact size of the zip and an iterator of its bytes (which opens its own session).

    Images are stored uncompressed: they are compressed formats already, and storing lets the
    size be known before the first byte is sent, so clients can show progress.
    """
    with factory() as session:
        folders = repository.folder_paths(session, dataset_id)
        images = session.execute(
            select(Image.folder, Image.name, Image.sha256, Image.size_bytes)
            .where(Image.dataset_id == dataset_id)
            .order_by(Image.folder, Image.name)
        ).all()
    return _entries_stream(factory, folders, [(i[0], i[1], i[2], i[3]) for i in images])


def version_zip_stream(
    factory: sessionmaker[Session], version_id: int
) -> tuple[int, Iterator[bytes]]:
    """A dataset version's zip: the same layout as the dataset's export when it was made."""
    with factory() as session:
        folders = list(session.get_one(DatasetVersion, version_id).folders)
        images = session.execute(
            select(
                DatasetVersionImage.folder,
                DatasetVersionImage.name,
                DatasetVersionImage.sha256,
                DatasetVersionImage.size_bytes,
            )
            .where(DatasetVersionImage.version_id == version_id)
            .order_by(DatasetVersionImage.folder, DatasetVersionImage.name)
        ).all()
    return _entries_stream(factory, folders, [(i[0], i[1], i[2], i[3]) for i in images])


def _entries_stream(
    factory: sessionmaker[Session], folders: list[str], images: list[tuple[str, str, str, int]]
) -> tuple[int, Iterator[bytes]]:
    """The zip of these folders and (folder, name, sha256, size) images, streamed."""
    stream = ZipStream(compress_type=ZIP_STORED, sized=True)
    for folder in folders:
        stream.add(None, folder + "/")
    shas = [sha for _, _, sha, _ in images]
    session = factory()
    prefetcher = _Prefetcher(session, shas)
    for index, (folder, name, _, size_bytes) in enumerate(images):
        path = f"{folder}/{name}" if folder else name
        stream.add(_Lazy(prefetcher, index), path, size=size_bytes)
    size = len(stream)

    def generate() -> Iterator[bytes]:
        # The zip stream yields many small pieces; each would cost the server a thread hop
        # and a socket write, so they are sent in pieces of about 64 KiB.
        pending: list[bytes] = []
        size = 0
        try:
            for piece in stream:
                pending.append(piece)
                size += len(piece)
                if size >= SEND_BYTES:
                    yield b"".join(pending)
                    pending, size = [], 0
            if pending:
                yield b"".join(pending)
        finally:
            session.close()

    return size, generate()


class _Lazy:
    """An iterable whose bytes are fetched only when the zip stream reaches this entry."""

    def __init__(self, prefetcher: _Prefetcher, index: int) -> None:
        self.prefetcher = prefetcher
        self.index = index

    def __iter__(self) -> Iterator[bytes]:
        return self.prefetcher.data(self.index)


def download_response(
    factory: sessionmaker[Session], dataset_id: int, name: str
) -> StreamingResponse:
    """The dataset's zip as a streamed download with its exact size and a safe file name."""
    return zip_response(*zip_stream(factory, dataset_id), f"{name}.zip")


def zip_response(size: int, chunks: Iterator[bytes], filename: str) -> StreamingResponse:
    """A streamed zip download with its exact size and a safe file name."""
    filename = quote(filename, safe="")
    return StreamingResponse(
        chunks,
        media_type="application/zip",
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{filename}",
        },
    )
