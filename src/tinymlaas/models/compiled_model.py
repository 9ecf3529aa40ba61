from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tinymlaas.contracts import Activation, Engine, Measured, Quantization
from tinymlaas.db.base import Base, EnumString, IdMixin, PydanticJSON, TimestampMixin
from tinymlaas.enums import JobStatus


class CompiledModel(IdMixin, TimestampMixin, Base):
    """A trained model converted for one board, verified in TFLite-Micro, with its footprint."""

    __tablename__ = "compiled_models"

    owner_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    model_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("trained_models.id", ondelete="CASCADE"), nullable=False, index=True
    )
    job_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True
    )
    board: Mapped[str] = mapped_column(String(32), nullable=False)
    quantization: Mapped[Quantization] = mapped_column(String(16), nullable=False)
    engine: Mapped[Engine] = mapped_column(
        String(8), nullable=False, default="tflm", server_default="tflm"
    )
    status: Mapped[JobStatus] = mapped_column(
        EnumString(JobStatus, 16), nullable=False, default=JobStatus.queued
    )
    tflite_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    arena_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    flash_estimate_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    ram_estimate_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    fits: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    fit_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    accuracy: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    input: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    output: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The C engine's activation plan and its bare-metal measurement (None for tflm).
    activation: Mapped[Activation | None] = mapped_column(PydanticJSON(Activation), nullable=True)
    measured: Mapped[Measured | None] = mapped_column(PydanticJSON(Measured), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class CompiledFile(IdMixin, TimestampMixin, Base):
    """A downloadable artifact of a compiled model (model.tflite, C array, library, manifest)."""

    __tablename__ = "compiled_files"
    __table_args__ = (UniqueConstraint("compiled_id", "name"),)

    compiled_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("compiled_models.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(
        String(64), ForeignKey("blobs.sha256"), nullable=False, index=True
    )
