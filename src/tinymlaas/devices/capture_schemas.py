"""A device's capture rule: which of its predictions send their frame to review."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tinymlaas.params import IdField

MAX_PER_HOUR = 3600


class CaptureRuleWrite(BaseModel):
    """At least one of `below_score`, `margin` and `sample_per_hour` must be given."""

    dataset_id: IdField = Field(description="the dataset whose review queue gets the frames")
    below_score: float | None = Field(
        default=None, gt=0, le=1, description="keep a prediction whose top score is below this"
    )
    margin: float | None = Field(
        default=None, ge=0, le=1, description="keep one whose top two scores are within this"
    )
    sample_per_hour: int | None = Field(
        default=None, ge=1, le=MAX_PER_HOUR, description="also keep this many an hour at random"
    )
    max_per_hour: int = Field(
        default=60, ge=1, le=MAX_PER_HOUR, description="at most this many frames an hour"
    )
    enabled: bool = True


class CaptureRuleRead(CaptureRuleWrite):
    device_id: int
    dataset_name: str
    kept_last_hour: int = Field(description="frames of this device still waiting, kept this hour")
    queued: int = Field(description="items waiting in the dataset's review queue")
    queue_max: int = Field(description="the queue's total cap (TINYMLAAS_REVIEW_QUEUE_MAX)")
    updated_at: datetime
