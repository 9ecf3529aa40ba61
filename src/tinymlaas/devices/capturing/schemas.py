from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tinymlaas.enums import JobStatus
from tinymlaas.params import IdField


class CaptureRequest(BaseModel):
    dataset_id: IdField
    folder: str = Field(
        min_length=1, max_length=512, description="the folder (its label) the frames go into"
    )
    count: int = Field(default=10, ge=1, le=1000, description="frames to take")
    interval_ms: int = Field(default=1000, ge=0, le=3_600_000, description="between two frames")


class CaptureRead(BaseModel):
    id: int
    job_id: int
    device_id: int
    dataset_id: int
    folder: str
    count: int
    interval_ms: int
    status: JobStatus
    image_ids: list[int] = Field(description="the images stored so far, in capture order")
    error: str | None
    created_at: datetime
