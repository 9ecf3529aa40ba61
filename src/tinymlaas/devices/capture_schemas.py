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


class FrameCounts(BaseModel):
    """What a device's capture rule did with its doubtful predictions."""

    kept: int = Field(description="frames queued for review (reviewed since or not)")
    dropped_hourly_cap: int = Field(description="not kept: the device's max_per_hour was reached")
    dropped_queue_full: int = Field(
        description="not kept: the dataset's queue held TINYMLAAS_REVIEW_QUEUE_MAX items"
    )
    rejected: int = Field(
        description="frames the bridge sent that failed the checks (not base64, too large,"
        " not an image, over the pixel limit)"
    )


class ReviewCaptureCounts(BaseModel):
    """A device's frames for review in the current UTC hour and since it was first seen."""

    hour: datetime = Field(description="the start of the current hour (UTC)")
    this_hour: FrameCounts
    total: FrameCounts


class CaptureRuleRead(CaptureRuleWrite):
    device_id: int
    dataset_name: str
    kept_last_hour: int = Field(
        description="frames of this device kept this UTC hour, reviewed since or not;"
        " the rule keeps no more once it reaches max_per_hour"
    )
    counts: ReviewCaptureCounts
    queued: int = Field(description="items waiting in the dataset's review queue")
    queue_max: int = Field(description="the queue's total cap (TINYMLAAS_REVIEW_QUEUE_MAX)")
    updated_at: datetime
