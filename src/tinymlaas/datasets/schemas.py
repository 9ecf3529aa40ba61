from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class DatasetCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)


class DatasetUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)


class NameCount(BaseModel):
    name: str
    count: int


class DatasetRead(BaseModel):
    id: int
    name: str
    description: str
    image_count: int
    size_bytes: int
    labels: list[NameCount]
    splits: list[NameCount]
    created_at: datetime
    updated_at: datetime


class IgnoredEntry(BaseModel):
    entry: str = Field(description="the file as uploaded: a zip entry or a file name")
    reason: str


class DatasetUploadRead(DatasetRead):
    """The dataset after an import or an upload, with the files that were skipped on purpose."""

    ignored: list[IgnoredEntry] = Field(
        description="documentation files (README*, LICENSE*, *.txt, *.md, *.csv, *.json, "
        "*.yaml) that were not stored; operating-system clutter is skipped without a mention"
    )


class ImageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    path: str
    folder: str
    label: str | None
    split: str | None
    width: int
    height: int
    format: str
    size_bytes: int
    sha256: str


class OnConflict(StrEnum):
    """What a move does when the target folder already holds an image of the same name."""

    RENAME = "rename"  # give the moved image a free name: 000.jpg -> 000 (2).jpg
    FAIL = "fail"  # refuse the move (409), listing every conflicting image


class ImageUpdate(BaseModel):
    folder: str | None = Field(default=None, max_length=512)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    on_conflict: OnConflict = OnConflict.FAIL


MAX_MOVED_IMAGES = 1000


class ImagesMove(BaseModel):
    image_ids: list[int] = Field(min_length=1, max_length=MAX_MOVED_IMAGES)
    folder: str = Field(max_length=512, description='the target folder; "" is the top folder')
    on_conflict: OnConflict = OnConflict.FAIL


class FolderCreate(BaseModel):
    path: str = Field(min_length=1, max_length=512)


class FolderUpdate(BaseModel):
    path: str = Field(min_length=1, max_length=512)


class FolderRead(BaseModel):
    path: str
    label: str | None
    split: str | None
    image_count: int = Field(description="images directly in this folder")
    total_image_count: int = Field(description="images in this folder and its subfolders")


class EntryError(BaseModel):
    entry: str
    problem: str


class RejectedUpload(BaseModel):
    detail: str
    errors: list[EntryError] = []
