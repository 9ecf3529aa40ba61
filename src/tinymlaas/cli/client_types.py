"""What the API client's dataset and user calls answer, as the CLI reads it."""

from __future__ import annotations

from typing import TypedDict


class NameCount(TypedDict):
    name: str
    count: int


class DatasetInfo(TypedDict):
    id: int
    name: str
    description: str
    image_count: int
    size_bytes: int
    labels: list[NameCount]
    splits: list[NameCount]
    created_at: str
    updated_at: str


class IgnoredInfo(TypedDict):
    entry: str
    reason: str


class UploadedDatasetInfo(DatasetInfo):
    """The dataset after an import or an upload, with the files skipped on purpose."""

    ignored: list[IgnoredInfo]


class DatasetPage(TypedDict):
    items: list[DatasetInfo]
    total: int


class FolderInfo(TypedDict):
    path: str
    label: str | None
    split: str | None
    image_count: int
    total_image_count: int


class UserInfo(TypedDict):
    id: int
    username: str
    is_admin: bool
    created_at: str
