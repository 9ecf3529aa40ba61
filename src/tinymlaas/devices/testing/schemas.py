from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tinymlaas.contracts import TestSplit
from tinymlaas.devices.testing.report import DeviceTestReport
from tinymlaas.enums import JobStatus
from tinymlaas.params import IdField


class DeviceTestRequest(BaseModel):
    compiled_id: IdField | None = Field(
        default=None, description="the compiled model to test (default: the installed one)"
    )
    dataset_id: IdField | None = Field(
        default=None, description="default: the dataset the model was trained on"
    )
    split: TestSplit = Field(
        default="validation",
        description="validation or test: the model's own held-out images when the dataset is"
        " its training set, else the dataset's split folder; all: every labelled image",
    )
    limit: int | None = Field(
        default=None, ge=1, le=100_000, description="at most this many images, spread evenly"
    )


class DeviceTestAccepted(BaseModel):
    id: int
    job_id: int
    status: JobStatus
    images: int


class DeviceTestRead(BaseModel):
    id: int
    device_id: int
    compiled_id: int
    dataset_id: int | None
    job_id: int
    split: TestSplit
    limit: int | None
    images: int
    stage: str = Field(description="preparing, ready, sent, answered, cancelled, failed or done")
    done: int = Field(description="images the board has answered so far")
    status: JobStatus
    error: str | None
    report: DeviceTestReport | None
    created_at: datetime
