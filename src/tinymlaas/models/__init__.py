"""ORM tables, one module per table; importing this package registers them all."""

from tinymlaas.models.blob import Blob, BlobChunk
from tinymlaas.models.dataset import Dataset
from tinymlaas.models.folder import Folder
from tinymlaas.models.image import Image
from tinymlaas.models.user import User

__all__ = ["Blob", "BlobChunk", "Dataset", "Folder", "Image", "User"]
