"""The options of `tinymlaas train`, one line each in its signature."""

from __future__ import annotations

from typing import Annotated

import typer

from tinymlaas.contracts import ColorMode

DatasetOption = Annotated[int, typer.Option(help="The dataset's id.", show_default=False)]
ArchitectureOption = Annotated[
    str | None,
    typer.Option(
        help="cnn-small, mobilenet-v1 … (see tinymlaas architectures); required unless"
        " --base-model.",
        show_default=False,
    ),
]
AlphaOption = Annotated[
    float | None, typer.Option(help="The width multiplier (default: the architecture's).")
]
NameOption = Annotated[
    str | None, typer.Option(help="The model's name (default: dataset-architecture).")
]
LearningRateOption = Annotated[
    float | None, typer.Option(help="Adam's learning rate (server default 0.001).")
]
ValidationSplitOption = Annotated[
    float | None,
    typer.Option(help="Held-out fraction when the dataset has no validation folder."),
]
FlipOption = Annotated[bool, typer.Option("--flip", help="Augment with random horizontal flips.")]
BaseModelOption = Annotated[
    int | None,
    typer.Option(
        help="Continue from this model of yours, into a new one (its architecture, α, size"
        " and colours)."
    ),
]
WidthOption = Annotated[
    int | None, typer.Option(help="Input width in pixels (default 96).", show_default=False)
]
HeightOption = Annotated[
    int | None, typer.Option(help="Input height in pixels (default 96).", show_default=False)
]
ColorOption = Annotated[
    ColorMode | None, typer.Option(help="Input colours (default grayscale).", show_default=False)
]
RestoreBestOption = Annotated[
    bool,
    typer.Option(
        "--restore-best/--keep-last",
        help="Keep the epoch with the lowest validation loss, or the last one.",
    ),
]
EarlyStoppingOption = Annotated[
    int | None,
    typer.Option(
        help="Stop after this many epochs without a lower validation loss.", show_default=False
    ),
]
BoardOption = Annotated[
    str | None, typer.Option(help="First print whether the model should fit this board.")
]
WeightsOption = Annotated[
    str,
    typer.Option(
        help="Start from: none (random), imagenet (MobileNets; see tinymlaas weights list) or"
        " the id of a base you uploaded (tinymlaas weights upload)."
    ),
]
