"""Request and response models of a dataset's review queue."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from tinymlaas.params import IdField

MAX_BULK = 1000


class ReviewItemRead(BaseModel):
    """A frame waiting for review, with what the device predicted."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    dataset_id: int
    device_id: int | None = Field(description="the device that kept it (null once deleted)")
    compiled_id: int | None = Field(description="the compiled model installed on the device")
    seq: int | None = Field(description="the prediction's sequence number on the device")
    label: str = Field(description="the predicted label: accepting puts the image in its folder")
    scores: dict[str, float] = Field(description="label → score, every label")
    uncertainty: float = Field(description="1 − (top score − second score); highest first")
    reason: str = Field(description="why it was kept: below_score, margin or sample")
    width: int
    height: int
    format: str
    size_bytes: int
    created_at: datetime


class ReviewSelection(BaseModel):
    """Review items to act on, all or none."""

    ids: list[IdField] = Field(min_length=1, max_length=MAX_BULK)


class ReviewRelabel(ReviewSelection):
    label: str = Field(min_length=1, max_length=200, description="the folder name to file under")


class ReviewDone(BaseModel):
    """What an action did: the items it took from the queue and the images it made."""

    action: str = Field(description="accepted, relabelled or discarded")
    count: int
    image_ids: list[int] = Field(description="the new dataset images, in the order of `ids`")
    queued: int = Field(description="items still waiting in the queue")
