from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tinymlaas.db.base import Base, EnumString, ExactString, IdMixin, TimestampMixin, UTCDateTime
from tinymlaas.enums import CandidateStatus


class Search(IdMixin, TimestampMixin, Base):
    """A search for the best model that fits a board; its job holds the overall state.

    `request` is the request as given (the space, budget and objective); `phase` says whether
    it trains candidates (`training`), compiles its recommendation (`compiling`) or is `done`.
    `revision` grows by one with every step the coordinator takes: a step starts with a
    conditional UPDATE on it, so of several API processes only one advances a search at once.
    """

    __tablename__ = "searches"

    owner_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(ExactString(200), nullable=False)
    dataset_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("datasets.id", ondelete="SET NULL"), nullable=True
    )
    job_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True, index=True
    )
    board: Mapped[str] = mapped_column(String(32), nullable=False)
    engine: Mapped[str] = mapped_column(String(8), nullable=False)
    objective: Mapped[str] = mapped_column(String(32), nullable=False)
    request: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    classes: Mapped[int] = mapped_column(Integer, nullable=False)
    phase: Mapped[str] = mapped_column(String(16), nullable=False, default="training")
    rung: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rung_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    recommended_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str] = mapped_column(String(500), nullable=False, default="")


class SearchCandidate(IdMixin, TimestampMixin, Base):
    """One configuration a search considered: its estimates, training and measurement."""

    __tablename__ = "search_candidates"

    search_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("searches.id", ondelete="CASCADE"), nullable=False, index=True
    )
    architecture: Mapped[str] = mapped_column(String(32), nullable=False)
    alpha: Mapped[float] = mapped_column(Float, nullable=False)
    input_size: Mapped[int] = mapped_column(Integer, nullable=False)
    color_mode: Mapped[str] = mapped_column(String(16), nullable=False)
    # Where its training starts: "none" (random), "imagenet" or an uploaded base's id.
    weights: Mapped[str] = mapped_column(String(16), nullable=False, default="none")
    status: Mapped[CandidateStatus] = mapped_column(EnumString(CandidateStatus, 16), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    ram_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    flash_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    macs: Mapped[int] = mapped_column(BigInteger, nullable=False)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    rung: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    epochs_trained: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    val_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The latest model of its training chain (each rung continues the last into a new one).
    model_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("trained_models.id", ondelete="SET NULL"), nullable=True
    )
    # The model its current rung is training (None between rungs).
    training_model_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("trained_models.id", ondelete="SET NULL"), nullable=True
    )
    compiled_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("compiled_models.id", ondelete="SET NULL"), nullable=True
    )
    measured_ram_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    measured_flash_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    measured_latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    # A deploy asked to install it on this device once its compile ends (devices/deploys.py).
    deploy_device_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("devices.id", ondelete="SET NULL"), nullable=True
    )
