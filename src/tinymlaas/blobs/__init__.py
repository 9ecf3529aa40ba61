"""Content-addressed storage of every file the platform keeps (images, models, artifacts)."""

from tinymlaas.blobs.database import DatabaseBlobStore
from tinymlaas.blobs.store import BlobStore, StoredBlob, sha256_hex

__all__ = ["BlobStore", "DatabaseBlobStore", "StoredBlob", "sha256_hex"]
