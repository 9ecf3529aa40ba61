from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from tinymlaas.enums import JobKind, JobStatus


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: JobKind
    status: JobStatus
    progress: float
    message: str
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    owner: str
    worker: str | None
    attempts: int


class JobAccepted(BaseModel):
    """The answer to a request that started a job (read from the row the job produces)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    job_id: int
    status: JobStatus
