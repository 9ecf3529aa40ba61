from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tinymlaas.contracts import (
    Augmentation,
    ColorMode,
    ImportedFile,
    ModelSource,
    PretrainedSource,
    TrainingConfig,
)
from tinymlaas.enums import JobStatus
from tinymlaas.params import IdField

__all__ = ["Augmentation", "ColorMode"]


class ModelCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    dataset_id: IdField
    # Required for a new model (the service says so); a continued one takes it from its base.
    architecture: str | None = None
    alpha: float | None = None
    input_width: int = Field(default=96, ge=8, le=640)
    input_height: int = Field(default=96, ge=8, le=640)
    color_mode: ColorMode = "grayscale"
    epochs: int = Field(default=10, ge=1, le=1000)
    batch_size: int = Field(default=32, ge=1, le=1024)
    learning_rate: float | None = Field(default=None, gt=0, le=1)
    validation_split: float | None = Field(default=None, gt=0, lt=0.9)
    augmentation: Augmentation | None = None
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    restore_best_weights: bool = Field(
        default=True, description="keep the epoch with the lowest validation loss"
    )
    early_stopping_patience: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="stop after this many epochs without a lower validation loss",
    )
    base_model_id: IdField | None = None
    weights: PretrainedSource | IdField = Field(
        default="none",
        description="start from random weights ('none'), Keras's ImageNet weights ('imagenet',"
        " MobileNets) or an uploaded base's id (POST /weights)",
    )


class ModelUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)


class ModelRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    dataset_id: int | None
    dataset_version_id: int | None = Field(
        default=None, description="the dataset version it learnt from (GET /dataset-versions/ID)"
    )
    dataset_version: int | None = Field(
        default=None, description="that version's number in its dataset"
    )
    base_model_id: int | None
    status: JobStatus
    job_id: int | None
    config: TrainingConfig
    classes: list[str]
    parameter_count: int | None
    history: list[dict[str, Any]]
    metrics: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    error: str | None
    source: ModelSource = Field(
        default="trained", description="trained here, or imported from a file"
    )
    imported: ImportedFile | None = Field(
        default=None, description="an imported model's file and what it says"
    )


class FootprintRead(BaseModel):
    parameters: int
    tflite_bytes: int
    arena_bytes: int


class ArchitectureRead(BaseModel):
    id: str
    name: str
    description: str
    alphas: list[float]
    default_alpha: float
    min_input: int
    max_input: int
    default_input: int
    footprints: dict[str, FootprintRead] = Field(
        description="measured int8 footprint at 96×96×1 with 3 classes, by alpha"
    )


class EstimateQuery(BaseModel):
    """The query of an estimate: the input and classes to size the model for, and a board."""

    alpha: float | None = None
    input_width: int = Field(default=96, ge=8, le=640)
    input_height: int = Field(default=96, ge=8, le=640)
    color_mode: ColorMode = "grayscale"
    classes: int = Field(default=2, ge=2, le=1000)
    board: str | None = None


class EstimateRead(BaseModel):
    architecture: str
    alpha: float
    parameters: int
    flash_bytes: int
    arena_bytes: int
    input_bytes: int
    basis: str
    board: str | None = None
    fits: bool | None = None
    ram_estimate_bytes: int | None = None
    flash_estimate_bytes: int | None = None


class ImagenetStatus(BaseModel):
    """The ImageNet weights file a configuration would start from, and whether it can be had."""

    available: bool = Field(description="a training can start from it now")
    cached: bool = Field(default=False, description="it is in the server's weights cache")
    filename: str | None = Field(default=None, description="Keras's file name")
    url: str | None = Field(default=None, description="where Keras publishes it")
    size: int | None = Field(default=None, description="the input size it was trained at")
    problem: str | None = Field(default=None, description="why it cannot be used")


class BaseWeightsRead(BaseModel):
    """An uploaded base model: what vetting found in its file."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    filename: str
    size_bytes: int
    architecture: str
    alpha: float
    channels: int = Field(description="input channels of its first convolution")
    layer_count: int = Field(description="backbone layers with weights")
    parameter_count: int = Field(description="weights in those layers")
    created_at: datetime
