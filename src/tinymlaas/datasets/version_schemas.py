"""Request and response models of dataset versions."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tinymlaas.datasets.schemas import NameCount

MAX_NOTE_LENGTH = 1000


class VersionCreate(BaseModel):
    note: str = Field(default="", max_length=MAX_NOTE_LENGTH, description="what this version is")


class ModelRef(BaseModel):
    id: int
    name: str


class VersionRead(BaseModel):
    id: int
    dataset_id: int | None = Field(description="None once the dataset was deleted")
    dataset_name: str
    number: int = Field(description="1, 2, 3… per dataset")
    note: str
    fingerprint: str = Field(description="sha256 of the sorted folders and (path, blob) rows")
    image_count: int
    size_bytes: int
    labels: list[NameCount]
    splits: list[NameCount]
    folders: list[str]
    created_at: datetime
    models: list[ModelRef] = Field(description="the models that learnt from this version")


class LabelChangeRead(BaseModel):
    label: str | None = Field(description="None: images in the top folder (no label)")
    before: int
    after: int
    added: int
    removed: int
    relabelled_in: int = Field(description="images whose bytes came here from another label")
    relabelled_out: int = Field(description="images whose bytes went to another label")


class RelabelRead(BaseModel):
    from_label: str | None
    to_label: str | None
    count: int


class VersionDiffRead(BaseModel):
    from_version: int
    to_version: int | None = Field(description="None: the dataset as it is now")
    added: int
    removed: int
    relabelled: int = Field(description="the same bytes under another label")
    unchanged: int
    labels: list[LabelChangeRead]
    relabels: list[RelabelRead]
