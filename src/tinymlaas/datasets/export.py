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
from tinymlaas.models import Image

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
    stream = ZipStream(compress_type=ZIP_STORED, sized=True)
    for folder in folders:
        stream.add(None, folder + "/")
    shas = [image.sha256 for image in images]
    session = factory()
    prefetcher = _Prefetcher(session, shas)
    for index, image in enumerate(images):
        path = f"{image.folder}/{image.name}" if image.folder else image.name
        stream.add(_Lazy(prefetcher, index), path, size=image.size_bytes)
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
    size, chunks = zip_stream(factory, dataset_id)
    filename = quote(f"{name}.zip", safe="")
    return StreamingResponse(
        chunks,
        media_type="application/zip",
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{filename}",
        },
    )
