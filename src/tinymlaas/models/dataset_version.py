from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tinymlaas.db.base import Base, ExactString, IdMixin, TimestampMixin


class DatasetVersion(IdMixin, TimestampMixin, Base):
    """An immutable snapshot of a dataset's folders and images, numbered 1, 2, 3… per dataset.

    The images are DatasetVersionImage rows pointing at content-addressed blobs, so a version
    costs rows, not bytes. A version a model learnt from outlives its dataset (`dataset_id`
    becomes NULL; `dataset_name` keeps what it was called).
    """

    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "number"),)

    owner_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    dataset_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("datasets.id", ondelete="SET NULL"), nullable=True
    )
    dataset_name: Mapped[str] = mapped_column(ExactString(200), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    note: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    # sha256 of the sorted folders and (path, blob) rows: equal fingerprints, equal data.
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    image_count: Mapped[int] = mapped_column(Integer, nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    labels: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    splits: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    folders: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)


class DatasetVersionImage(Base):
    """One image of a version: where it was, what it was labelled, and its blob."""

    __tablename__ = "dataset_version_images"

    version_id: Mapped[int] = mapped_column(
        Integer,
        ForeignKey("dataset_versions.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )
    # The image's id when the version was made (training records these ids); not a foreign
    # key: the image may be deleted or moved since.
    image_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    folder: Mapped[str] = mapped_column(ExactString(512), nullable=False)
    name: Mapped[str] = mapped_column(ExactString(200), nullable=False)
    label: Mapped[str | None] = mapped_column(ExactString(200), nullable=True)
    split: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # A foreign key to blobs: DatabaseBlobStore.release never frees bytes a version holds.
    sha256: Mapped[str] = mapped_column(
        String(64), ForeignKey("blobs.sha256"), nullable=False, index=True
    )
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
