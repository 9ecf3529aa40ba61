"""Requests and answers of model searches."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tinymlaas.contracts import ColorMode, Engine, PretrainedSource, Weights
from tinymlaas.enums import CandidateStatus, JobStatus
from tinymlaas.params import IdField
from tinymlaas.search.halving import MAX_EPOCHS

Objective = Literal["accuracy", "accuracy_per_ms"]
WeightsChoice = PretrainedSource | IdField
WeightsList = Annotated[list[WeightsChoice], Field(min_length=1, max_length=4)]


class SearchCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    dataset_id: IdField
    board: str = Field(min_length=1, max_length=32)
    engine: Engine = "tflm"
    max_latency_ms: float | None = Field(
        default=None, gt=0, description="drop candidates whose estimated latency is longer"
    )
    ram_margin: float = Field(
        default=0.1,
        ge=0,
        lt=1,
        description="fraction of the board's RAM and flash a recommendation leaves free; the"
        " measured RAM/flash of the compiled recommendation must fit with it too",
    )
    time_budget_minutes: float = Field(gt=0, le=7 * 24 * 60)
    objective: Objective = "accuracy"
    seed: int = Field(default=1234, ge=0, le=2**31 - 1)
    # The space (all of the catalog by default) and how it is searched.
    architectures: list[str] | None = Field(default=None, min_length=1, max_length=3)
    input_sizes: list[int] | None = Field(default=None, min_length=1, max_length=8)
    color_modes: list[ColorMode] | None = Field(default=None, min_length=1, max_length=2)
    max_candidates: int = Field(
        default=12, ge=1, le=100, description="fitting candidates trained in the first rung"
    )
    first_epochs: int = Field(
        default=2, ge=1, le=20, description="epochs of the first rung; each rung trains 3×"
    )
    max_epochs: int = Field(
        default=MAX_EPOCHS,
        ge=1,
        le=1000,
        description="most epochs a candidate trains in all; the best goes on towards it while"
        " the time budget lasts",
    )
    batch_size: int = Field(default=32, ge=1, le=1024)
    weights: WeightsChoice | WeightsList = Field(
        default="none",
        description="where MobileNet candidates start: 'none' (random), 'imagenet' or an"
        " uploaded base's id (POST /weights), or a list of them to search over; a candidate"
        " the weights cannot start (cnn-small with 'imagenet', another backbone than the"
        " base's) trains from random weights",
    )

    @model_validator(mode="after")
    def _epochs_in_order(self) -> SearchCreate:
        if self.max_epochs < self.first_epochs:
            raise ValueError(
                f"max_epochs ({self.max_epochs}) is less than first_epochs ({self.first_epochs})"
            )
        return self

    def weights_options(self) -> list[Weights]:
        """The weights to search over, each once, in the order given."""
        given = self.weights if isinstance(self.weights, list) else [self.weights]
        return list(dict.fromkeys(given))


class CandidateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    label: str
    architecture: str
    alpha: float
    input_size: int
    color_mode: ColorMode
    weights: str = Field(description="'none', 'imagenet' or an uploaded base's id")
    status: CandidateStatus
    reason: str | None
    ram_bytes: int = Field(description="estimated RAM on the board, before training")
    flash_bytes: int = Field(description="estimated flash on the board, before training")
    macs: int
    latency_ms: float | None = Field(description="estimated latency of one inference")
    rung: int
    epochs_trained: int
    val_accuracy: float | None
    model_id: int | None
    compiled_id: int | None
    measured_ram_bytes: int | None
    measured_flash_bytes: int | None
    measured_latency_ms: float | None


class SearchSummary(BaseModel):
    id: int
    name: str
    dataset_id: int | None
    board: str
    engine: Engine
    objective: Objective
    job_id: int | None
    status: JobStatus
    phase: str
    rung: int
    message: str
    recommended_id: int | None
    created_at: datetime


class SearchRead(SearchSummary):
    request: dict[str, Any]
    board_ram_bytes: int
    board_flash_bytes: int
    ram_limit_bytes: int = Field(description="the board's RAM less the margin")
    flash_limit_bytes: int = Field(description="the board's flash less the margin")
    latency_basis: str
    candidates: list[CandidateRead]
    pareto_front: list[int] = Field(description="ids of the candidates on the Pareto front")
    recommendation: CandidateRead | None


class DeployRequest(BaseModel):
    device_id: IdField | None = Field(
        default=None,
        description="install on this device (its board must be the search's) once compiled",
    )


class DeployAccepted(BaseModel):
    """What a candidate's deploy started: its compile (or the one it reuses) and the install,
    now when the compiled model is ready, else as soon as its compile ends."""

    compiled_id: int
    compile_job_id: int | None = Field(description="the compile it started; None when reused")
    installation_id: int | None = None
    install_job_id: int | None = None
    install_pending: bool = Field(
        default=False, description="the install waits for the compile to succeed"
    )


class SearchAccepted(BaseModel):
    """The answer to a started search: the search and the job that follows it."""

    id: int
    job_id: int
