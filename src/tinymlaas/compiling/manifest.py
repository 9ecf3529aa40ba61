"""The manifest of a compiled model: what produced it and how a device must feed it (pure).

`Manifest` is the contract between the compile job, which writes manifest.json, and the
devices that read it; the JSON keys are those of the manifests already stored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from tinymlaas import __version__
from tinymlaas.compiling.quantize import describe_input_quantization
from tinymlaas.contracts import ColorMode, Engine, Quantization, TrainingConfig
from tinymlaas.training.preprocess import describe as describe_preprocessing

if TYPE_CHECKING:
    from tinymlaas.compiling.quantize import TensorInfo
    from tinymlaas.engine.codegen import GeneratedLibrary


MANIFEST_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class TensorSpec(_Frozen):
    """A model input or output tensor as the manifest and the API describe it."""

    shape: list[int]
    dtype: str
    scale: float
    zero_point: int

    @classmethod
    def of(cls, info: TensorInfo) -> TensorSpec:
        return cls(
            shape=list(info.shape), dtype=info.dtype, scale=info.scale, zero_point=info.zero_point
        )


class ModelFacts(_Frozen):
    """The trained model a compiled model was built from."""

    id: int
    name: str
    architecture: str
    alpha: float
    training: TrainingConfig
    parameter_count: int | None = None
    keras_sha256: str | None = None


class DatasetFacts(_Frozen):
    """The dataset the model was trained on, as it was then."""

    id: int | None = None
    name: str | None = None
    content_sha256: str | None = None
    # The dataset version it learnt from (GET /datasets/{id}/versions/{version}); None for
    # models trained before versions existed, and imported ones.
    version: int | None = None


class DevicePreprocessing(_Frozen):
    color_mode: ColorMode


class Preprocessing(DevicePreprocessing):
    """How an image becomes the model's input, in words (generated from the code that does it)."""

    resize: str
    pixel_range: str
    quantize: str
    # Only for grayscale models (absent from manifests written before it was added).
    grayscale: str | None = None

    @classmethod
    def of(cls, color_mode: ColorMode, input_tensor: TensorInfo) -> Preprocessing:
        """The description of `training/preprocess` and `compiling/quantize` for this input."""
        steps = describe_preprocessing(color_mode)
        return cls(
            color_mode=color_mode,
            resize=steps.resize,
            grayscale=steps.grayscale,
            pixel_range=steps.pixel_range,
            quantize=describe_input_quantization(input_tensor),
        )


class FileFacts(_Frozen):
    sha256: str
    size_bytes: int


class DeviceManifest(_Frozen):
    """The part of manifest.json a device reads to feed the model; it ignores the rest."""

    classes: list[str]
    input: TensorSpec
    preprocessing: DevicePreprocessing
    tensor_arena_bytes_measured: int


class Manifest(DeviceManifest):
    """manifest.json; the sha256 of its text is the model id devices announce in HELLO."""

    manifest_version: int = MANIFEST_VERSION
    created_at: datetime
    compiled_id: int
    board: str
    quantization: Quantization
    # Which engine runs the model: "tflm" (model.tflite in TFLite-Micro) or "c" (c_library.zip).
    engine: Engine = "tflm"
    model: ModelFacts
    dataset: DatasetFacts
    preprocessing: Preprocessing
    output: TensorSpec
    versions: dict[str, str] = Field(default_factory=dict)
    files: dict[str, FileFacts] = Field(default_factory=dict)

    @field_serializer("created_at")
    def _isoformat(self, created_at: datetime) -> str:
        return created_at.isoformat()

    def to_json(self) -> str:
        """The manifest.json text: sorted keys, two-space indent, a final newline."""
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


def tensor_dict(info: TensorInfo) -> dict[str, object]:
    """A tensor as the compiled model's API `input`/`output` fields show it."""
    return TensorSpec.of(info).model_dump()


def file_facts(files: dict[str, bytes]) -> dict[str, FileFacts]:
    """The sha256 and size of each file, by name."""
    return {
        name: FileFacts(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
        for name, data in sorted(files.items())
    }


@dataclass(frozen=True)
class CompileTarget:
    """Which compiled model is being built, for which board and quantization, and when."""

    compiled_id: int
    board: str
    quantization: Quantization
    created_at: datetime
    engine: Engine = "tflm"


@dataclass(frozen=True)
class CompiledArtifacts:
    """What conversion and measurement produced: the .tflite, its tensors and its arena (and,
    for engine "c", the generated C library)."""

    tflite: bytes
    input: TensorInfo
    output: TensorInfo
    arena_bytes: int
    c_library: GeneratedLibrary | None = None


def build_manifest(
    *,
    target: CompileTarget,
    model: ModelFacts,
    dataset: DatasetFacts,
    classes: list[str],
    artifacts: CompiledArtifacts,
    versions: dict[str, str],
    files: dict[str, bytes],
) -> Manifest:
    """The manifest of a compiled model; `files` are the ones it lists with their sha256."""
    return Manifest(
        created_at=target.created_at,
        compiled_id=target.compiled_id,
        board=target.board,
        quantization=target.quantization,
        engine=target.engine,
        model=model,
        dataset=dataset,
        classes=classes,
        preprocessing=Preprocessing.of(model.training.color_mode, artifacts.input),
        input=TensorSpec.of(artifacts.input),
        output=TensorSpec.of(artifacts.output),
        tensor_arena_bytes_measured=artifacts.arena_bytes,
        versions={"tinymlaas": __version__, **versions},
        files=file_facts(files),
    )
