from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from tinymlaas.devices.capture_schemas import ReviewCaptureCounts
from tinymlaas.enums import JobStatus
from tinymlaas.params import IdField

DeviceStatus = Literal["online", "offline", "busy"]
InstallProblem = Literal["not_ready", "unknown_board", "does_not_fit", "other_board"]


class BridgeCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class BridgeRead(BaseModel):
    id: int
    name: str
    status: Literal["online", "offline"]
    last_seen: datetime | None
    hostname: str | None
    version: str | None
    created_at: datetime


class BridgeCreated(BridgeRead):
    token: str = Field(description="shown once: the bridge authenticates with it")
    command: str = Field(description="the command that starts this bridge")


class Installed(BaseModel):
    compiled_id: int
    installed_at: datetime | None


class DeviceRead(BaseModel):
    id: int
    bridge_id: int
    name: str
    board: str | None
    port: str
    serial_number: str | None
    status: DeviceStatus
    installed: Installed | None
    running_model_id: str | None
    virtual: bool
    last_seen: datetime | None
    dropped_predictions: int = Field(
        default=0, description="predictions its bridge dropped (buffer full) and reported"
    )
    review_capture: ReviewCaptureCounts = Field(
        description="frames its capture rule kept for review, and doubtful ones it did not"
    )


class DeviceUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    board: str | None = Field(default=None, min_length=1, max_length=32)


class InstallRequest(BaseModel):
    compiled_id: IdField
    force: bool = Field(
        default=False,
        description="install a model compiled for another board than the device's (for experts)",
    )


class InstallCheckRead(BaseModel):
    """Whether a compiled model can be installed on a device, and why not."""

    device_id: int
    compiled_id: int
    allowed: bool
    problem: InstallProblem | None = Field(
        description="not_ready, unknown_board, does_not_fit, other_board (forceable), or null"
    )
    reason: str | None
    fits: bool | None = Field(description="whether it fits the device's board (null: unknown)")
    fit_detail: dict[str, Any] | None


class InstallAccepted(BaseModel):
    id: int
    job_id: int
    status: JobStatus


class ObservationRead(BaseModel):
    id: int
    device_id: int
    compiled_id: int | None
    ts: datetime
    seq: int | None
    label: str
    scores: dict[str, Any]
    latency_ms: float | None
    source: str | None


class HourRead(BaseModel):
    """A device's predictions in one hour (from the hourly aggregates)."""

    hour: datetime
    count: int
    labels: dict[str, int] = Field(description="label → predictions of it")
    mean_latency_ms: float
    max_latency_ms: float
    mean_top_score: float = Field(description="the mean of each prediction's highest score")
    compiled_ids: list[int | None] = Field(description="the models that made them (null: unknown)")


class DeviceHistory(BaseModel):
    device_id: int
    hours: list[HourRead] = Field(description="hours with predictions, oldest first")
    total: int = Field(description="predictions ever stored, retention-deleted ones included")
