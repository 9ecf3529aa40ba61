from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tinymlaas.contracts import Activation, Engine, Measured, Quantization
from tinymlaas.enums import JobStatus


class BoardRead(BaseModel):
    id: str
    name: str
    mcu: str
    clock_mhz: int
    flash_bytes: int
    ram_bytes: int


class CompileRequest(BaseModel):
    board: str = Field(min_length=1, max_length=32)
    quantization: Quantization = "int8"
    engine: Engine = Field(
        default="tflm",
        description='"tflm": the TFLite-Micro interpreter; "c": the model as dependency-free C99'
        " (int8 only)",
    )


class CompiledFileRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    content_type: str
    size_bytes: int
    sha256: str


class CompiledRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    model_id: int
    board: str
    quantization: Quantization
    engine: Engine
    status: JobStatus
    job_id: int | None
    tflite_bytes: int | None
    arena_bytes: int | None
    flash_estimate_bytes: int | None
    ram_estimate_bytes: int | None
    fits: bool | None
    fit_detail: dict[str, Any] | None
    accuracy: dict[str, Any] | None
    input: dict[str, Any] | None
    output: dict[str, Any] | None
    activation: Activation | None = None
    measured: Measured | None = None
    created_at: datetime
    error: str | None
