from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tinymlaas.contracts import ImportedFile, ModelSource, TrainingConfig, TrainingInfo
from tinymlaas.db.base import Base, EnumString, ExactString, IdMixin, PydanticJSON, TimestampMixin
from tinymlaas.enums import JobStatus


class TrainedModel(IdMixin, TimestampMixin, Base):
    """A Keras model trained on a dataset, or a model imported from a file (`source`).

    Its .keras file (trained, or an imported .keras) or imported .tflite lives in the blob store.
    """

    __tablename__ = "trained_models"

    owner_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(ExactString(200), nullable=False)
    dataset_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("datasets.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # The dataset version it learnt from (a trained model; imported ones have none).
    dataset_version_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("dataset_versions.id"), nullable=True, index=True
    )
    # That version's number (versions are immutable, so it never goes stale).
    dataset_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    job_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True
    )
    base_model_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("trained_models.id", ondelete="SET NULL"), nullable=True
    )
    status: Mapped[JobStatus] = mapped_column(
        EnumString(JobStatus, 16), nullable=False, default=JobStatus.queued
    )
    config: Mapped[TrainingConfig] = mapped_column(PydanticJSON(TrainingConfig), nullable=False)
    classes: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    parameter_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    training_info: Mapped[TrainingInfo | None] = mapped_column(
        PydanticJSON(TrainingInfo), nullable=True
    )
    keras_sha256: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("blobs.sha256"), nullable=True, index=True
    )
    source: Mapped[ModelSource] = mapped_column(
        String(16), nullable=False, default="trained", server_default="trained"
    )
    imported: Mapped[ImportedFile | None] = mapped_column(PydanticJSON(ImportedFile), nullable=True)
    tflite_sha256: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("blobs.sha256"), nullable=True, index=True
    )
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
