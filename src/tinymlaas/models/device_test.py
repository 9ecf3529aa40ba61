from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tinymlaas.db.base import Base, IdMixin, TimestampMixin

# Where a device test is: the worker prepares the tensors and the host's int8 outputs
# (preparing → ready), the API process holding the bridge sends them (sent) and stores the
# board's answers (answered, or failed with `error`), the worker computes the report (done).
DEVICE_TEST_STAGES = ("preparing", "ready", "sent", "answered", "failed", "done")


class DeviceTest(IdMixin, TimestampMixin, Base):
    """A compiled model tested on a board itself: held-out images in, the board's answers out."""

    __tablename__ = "device_tests"

    owner_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    device_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("devices.id", ondelete="CASCADE"), nullable=False, index=True
    )
    compiled_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("compiled_models.id", ondelete="CASCADE"), nullable=False, index=True
    )
    dataset_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("datasets.id", ondelete="SET NULL"), nullable=True
    )
    job_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    split: Mapped[str] = mapped_column(String(16), nullable=False)
    image_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stage: Mapped[str] = mapped_column(String(16), nullable=False, default="preparing")
    # The images in the order they are sent, and their true class indices.
    image_ids: Mapped[list[int]] = mapped_column(JSON, nullable=False)
    labels: Mapped[list[int]] = mapped_column(JSON, nullable=False)
    # The int8 input tensors, one after another (stored once the worker prepared them).
    inputs_sha256: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("blobs.sha256"), nullable=True, index=True
    )
    input_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The host's int8 outputs (LiteRT reference kernels) and the board's answers, per image.
    host: Mapped[list[list[int]] | None] = mapped_column(JSON, nullable=True)
    answers: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    bytes_sent: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
