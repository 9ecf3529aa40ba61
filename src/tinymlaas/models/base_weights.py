from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tinymlaas.db.base import Base, ExactString, IdMixin, TimestampMixin


class BaseWeights(IdMixin, TimestampMixin, Base):
    """A user's uploaded base model: a Keras HDF5 weights file training can start from.

    The file's bytes live in the blob store; the columns are what vetting found in it.
    """

    __tablename__ = "base_weights"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    owner_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(ExactString(200), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(
        String(64), ForeignKey("blobs.sha256"), nullable=False, index=True
    )
    architecture: Mapped[str] = mapped_column(String(32), nullable=False)
    alpha: Mapped[float] = mapped_column(Float, nullable=False)
    channels: Mapped[int] = mapped_column(Integer, nullable=False)
    layer_count: Mapped[int] = mapped_column(Integer, nullable=False)
    parameter_count: Mapped[int] = mapped_column(Integer, nullable=False)
