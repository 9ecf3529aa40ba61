"""The JSON contracts stored in tables and handed from one job to the next (pure pydantic,
below the tables so they can type their columns): what a training request fixes and what
training hands to compiling.

`TrainingConfig` is stored in `trained_models.config` and returned by the API; `TrainingInfo`
in `trained_models.training_info`, read by the compiling job. Their JSON keys are the stored
rows' keys, so existing rows load unchanged.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

ColorMode = Literal["grayscale", "rgb"]
COLOR_MODES: tuple[ColorMode, ...] = get_args(ColorMode)
Quantization = Literal["int8", "float32"]
QUANTIZATIONS: tuple[Quantization, ...] = get_args(Quantization)
# "tflm": the TFLite-Micro interpreter runs model.tflite; "c": the model compiled to plain C99.
Engine = Literal["tflm", "c"]
ENGINES: tuple[Engine, ...] = get_args(Engine)
# The images a device test sends: the model's held-out validation or test images, or all.
TestSplit = Literal["validation", "test", "all"]


# Where a training's weights start: random ("none"), Keras's ImageNet weights, or the id of a
# base model the user uploaded (POST /weights).
PretrainedSource = Literal["none", "imagenet"]
Weights = PretrainedSource | int


def channels_of(color_mode: ColorMode) -> int:
    """Channels of an input in `color_mode`: 1 for grayscale, 3 for RGB."""
    return 1 if color_mode == "grayscale" else 3


class Augmentation(BaseModel):
    model_config = ConfigDict(frozen=True)

    flip: bool = Field(default=False, description="random horizontal flips")
    rotation: float = Field(default=0.0, ge=0.0, le=0.5, description="fraction of a full turn")
    zoom: float = Field(default=0.0, ge=0.0, le=0.5, description="fraction of the image size")
    brightness: float = Field(default=0.0, ge=0.0, le=1.0, description="fraction of the range")


class TrainingConfig(BaseModel):
    """The settings a model was trained with; every default lives here."""

    model_config = ConfigDict(frozen=True)

    architecture: str
    alpha: float
    input_width: int = 96
    input_height: int = 96
    color_mode: ColorMode = "grayscale"
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 0.001
    validation_split: float = 0.2
    augmentation: Augmentation | None = None
    seed: int = 1234
    # Configs stored before these settings existed come from trainings that kept their last
    # epoch and never stopped early: absent keys load as that. New requests turn
    # restore_best_weights on (ModelCreate's default).
    restore_best_weights: bool = Field(
        default=False, description="keep the epoch with the lowest validation loss"
    )
    early_stopping_patience: int | None = Field(
        default=None,
        ge=1,
        description="stop after this many epochs without a lower validation loss (None: never)",
    )

    # Configs stored before transfer learning existed trained from random weights.
    weights: Weights = Field(
        default="none",
        description="the starting weights: 'none' (random), 'imagenet' or an uploaded base's id",
    )

    @property
    def channels(self) -> int:
        return channels_of(self.color_mode)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, channels), as Keras and the input tensor order them."""
        return (self.input_height, self.input_width, self.channels)


class ImageCounts(BaseModel):
    model_config = ConfigDict(frozen=True)

    train: int = 0
    validation: int = 0
    test: int = 0


class TrainingInfo(BaseModel):
    """What a finished training hands to compiling: the images it used and the versions."""

    model_config = ConfigDict(frozen=True)

    dataset_content_sha256: str | None = None
    train_image_ids: tuple[int, ...] = ()
    validation_image_ids: tuple[int, ...] = ()
    test_image_ids: tuple[int, ...] = ()
    validation_source: str | None = None
    image_counts: ImageCounts = ImageCounts()
    versions: dict[str, str] = Field(default_factory=dict)
    duration_seconds: float | None = None

    @property
    def held_out_image_ids(self) -> tuple[int, ...]:
        """The test images when the dataset has a test split, else the validation images."""
        return self.test_image_ids or self.validation_image_ids


ModelSource = Literal["trained", "imported"]
ImportFormat = Literal["tflite", "keras"]
# Architecture recorded in an imported model's TrainingConfig (its file defines the layers).
IMPORTED_ARCHITECTURE = "imported"


class TensorFacts(BaseModel):
    """Shape, element type and quantization of a model's input or output tensor."""

    model_config = ConfigDict(frozen=True)

    shape: list[int]
    dtype: str
    scale: float = 0.0
    zero_point: int = 0


class ImportedFile(BaseModel):
    """What an imported model's file is and says (stored in `trained_models.imported`).

    For a .tflite, everything is read from the flatbuffer at import; for a .keras, the input,
    output and operators are filled by the validation job that loads it in a worker.
    """

    model_config = ConfigDict(frozen=True)

    format: ImportFormat
    filename: str
    size_bytes: int
    sha256: str
    input: TensorFacts | None = None
    output: TensorFacts | None = None
    operators: tuple[str, ...] = ()
    tensor_count: int | None = None
    largest_tensor_bytes: int | None = None


class Activation(BaseModel):
    """The C engine's activation memory plan (stored in `compiled_models.activation`)."""

    model_config = ConfigDict(frozen=True)

    peak_bytes: int = Field(description="the planned activation buffer")
    floor_bytes: int = Field(
        description="the largest input + output activation bytes of any single operator"
    )
    in_place_saved_bytes: int = Field(
        default=0,
        description="how far below the ordinary plan (every operator writing a buffer of its"
        " own) running operators in place brought the planned buffer",
    )


class Measured(BaseModel):
    """The generated C built for the board's core and run bare-metal under QEMU (stored in
    `compiled_models.measured`; None until measured)."""

    model_config = ConfigDict(frozen=True)

    core: str = Field(description="the CPU core measured, e.g. cortex-m4")
    machine: str | None = Field(default=None, description="the QEMU machine it ran on")
    flash_bytes: int = Field(description="text + rodata of the linked program")
    weights_bytes: int = Field(description="the model's weights and constants in flash")
    code_bytes: int = Field(description="flash that is code: engine kernels and startup")
    ram_bytes: int = Field(description="data + bss (activation buffer included) + stack")
    stack_bytes: int = Field(description="measured stack high-water mark")
    instructions: int = Field(description="guest instructions per inference (QEMU -icount)")
    latency_ms_estimate: float | None = Field(
        default=None,
        description="instructions x the core's cycles per instruction / the board clock",
    )
    cycles_per_instruction: float | None = Field(
        default=None, description="the per-core factor the latency estimate used"
    )
    outputs_match_host: bool | None = Field(
        default=None, description="the bare-metal output bytes equal the host's"
    )
