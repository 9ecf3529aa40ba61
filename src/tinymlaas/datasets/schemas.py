from __future__ import annotations

from datetime import datetime

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


class ImageUpdate(BaseModel):
    folder: str | None = Field(default=None, max_length=512)
    name: str | None = Field(default=None, min_length=1, max_length=200)


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
