from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from tinymlaas.enums import JobStatus
from tinymlaas.params import IdField

DeviceStatus = Literal["online", "offline", "busy"]


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


class DeviceUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    board: str | None = Field(default=None, min_length=1, max_length=32)


class InstallRequest(BaseModel):
    compiled_id: IdField


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
