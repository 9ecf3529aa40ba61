"""`tinymlaas architectures`, `train` and `models …`: training models over the API."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from tinymlaas.cli.client_commands import _when, console, error_console
from tinymlaas.cli.client_types import DatasetInfo
from tinymlaas.cli.formatting import (
    TABLE_WIDTH,
    Json,
    details,
    key,
    number,
    percent,
    size,
    table,
    text,
)
from tinymlaas.cli.job_watch import end_unless_succeeded, follow_job
from tinymlaas.cli.ml_client import MlClient, logged_in_client
from tinymlaas.cli.options import AsJson, ModelId, Watch, Yes
from tinymlaas.cli.training_options import (
    AlphaOption,
    ArchitectureOption,
    BaseModelOption,
    BoardOption,
    ColorOption,
    DatasetOption,
    EarlyStoppingOption,
    FlipOption,
    HeightOption,
    LearningRateOption,
    NameOption,
    RestoreBestOption,
    ValidationSplitOption,
    WeightsOption,
    WidthOption,
)
from tinymlaas.contracts import ColorMode, TrainingConfig

models_app = typer.Typer(help="Trained models.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command()(architectures)
    app.command()(train)
    app.add_typer(models_app, name="models")


def architectures() -> None:
    """List the architectures you can train, with their int8 footprints at 96×96×1."""
    with logged_in_client() as api:
        found = api.list_architectures()
    listed = table(
        key("ID"), text("Alphas", 12), key("Input (px)"), text("int8 flash / arena", 30),
        title="Architectures (input: default (range); footprints at 96×96×1)",
    )  # fmt: skip
    for arch in found:
        alphas = ", ".join(
            f"[bold]{alpha:g}[/bold]" if alpha == arch["default_alpha"] else f"{alpha:g}"
            for alpha in arch["alphas"]
        )
        footprints = "\n".join(
            f"α {alpha}: {size(fp['tflite_bytes'])} / {size(fp['arena_bytes'])}"
            for alpha, fp in arch["footprints"].items()
        )
        listed.add_row(
            arch["id"],
            alphas,
            f"{arch['default_input']} ({arch['min_input']}–{arch['max_input']})",
            footprints or "-",
        )
    console.print(listed)


def _metrics_view(model: Json) -> list[Any]:
    """The final metrics: accuracies, a per-class table and the confusion matrix."""
    metrics = model.get("metrics")
    if not metrics:
        return ["No metrics."]
    evaluated = metrics.get("evaluated_on")
    summary = (
        f"Accuracy {percent(metrics.get('accuracy'))} (training) · "
        f"val_accuracy {percent(metrics.get('val_accuracy'))} · "
        f"loss {number(metrics.get('loss'))} · val_loss {number(metrics.get('val_loss'))}"
    )
    kept, run = metrics.get("kept_epoch"), metrics.get("epochs_run")
    if kept and run and kept != run:
        summary += f"\nKept epoch {kept} of {run}: the lowest val_loss"
    views: list[Any] = [summary]
    per_class: Json = metrics.get("per_class") or {}
    if not per_class:
        return views
    if evaluated:
        views.append(
            f"On the {evaluated} split ({metrics.get('evaluated_images')} images): "
            f"accuracy {percent(metrics.get('held_out_accuracy'))}"
        )
    scores_table = table(
        text("Class", 24), key("Precision"), key("Recall"), key("F1"), key("Support"),
        title="Per class",
    )  # fmt: skip
    for label, scores in per_class.items():
        scores_table.add_row(
            escape(label),
            number(scores["precision"]),
            number(scores["recall"]),
            number(scores["f1"]),
            str(scores["support"]),
        )
    views.append(scores_table)
    views.append(_confusion_matrix(list(per_class), metrics.get("confusion_matrix") or []))
    return views


def _confusion_matrix(labels: list[str], counts: list[list[int]]) -> Table:
    """Rows true labels, columns predicted ones, sharing out 80 columns between the classes."""
    width = max(4, (TABLE_WIDTH - 1 - 3 * (len(labels) + 1) - 16) // max(1, len(labels)))
    matrix = table(
        text("true \\ predicted", 16),
        *(text(escape(label), width) for label in labels),
        title="Confusion matrix",
    )
    for label, row in zip(labels, counts, strict=False):
        matrix.add_row(escape(label), *(str(count) for count in row))
    return matrix


def _architecture_of(model: Json) -> str:
    config = TrainingConfig.model_validate(model["config"])
    return f"{config.architecture} α {config.alpha:g}"


def _input_of(model: Json) -> str:
    config = TrainingConfig.model_validate(model["config"])
    return f"{config.input_width}×{config.input_height}×{config.channels}"


def _print_estimate(api: MlClient, architecture: str, board_id: str, params: Json) -> None:
    """The expected int8 footprint on the board, before anything is trained."""
    estimate = api.estimate(architecture, params | {"board": board_id})
    board = next((b for b in api.list_boards() if b["id"] == board_id), None)
    ram_limit = size(board["ram_bytes"]) if board else "?"
    flash_limit = size(board["flash_bytes"]) if board else "?"
    verdict = "[green]fits[/green]" if estimate["fits"] else "[red]does not fit[/red]"
    console.print(
        f"Estimate for {escape(board_id)} before training ({estimate['parameters']:,} "
        f"parameters, int8 model ~{size(estimate['flash_bytes'])}, arena "
        f"~{size(estimate['arena_bytes'])}): RAM ~{size(estimate['ram_estimate_bytes'])} "
        f"of {ram_limit}, flash ~{size(estimate['flash_estimate_bytes'])} of {flash_limit}: "
        f"{verdict}"
    )
    console.print(f"[dim]{escape(estimate['basis'])}[/dim]")


def train(
    dataset: DatasetOption,
    architecture: ArchitectureOption = None,
    alpha: AlphaOption = None,
    name: NameOption = None,
    width: WidthOption = None,
    height: HeightOption = None,
    color: ColorOption = None,
    epochs: Annotated[int, typer.Option(help="Passes over the training images.")] = 10,
    batch_size: Annotated[int, typer.Option(help="Images per training step.")] = 32,
    learning_rate: LearningRateOption = None,
    validation_split: ValidationSplitOption = None,
    flip: FlipOption = False,
    rotation: Annotated[float, typer.Option(help="Augment: rotate up to this turn.")] = 0.0,
    zoom: Annotated[float, typer.Option(help="Augment: zoom up to this fraction.")] = 0.0,
    brightness: Annotated[float, typer.Option(help="Augment: brightness ± this.")] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Seed for a repeatable training.")] = None,
    restore_best: RestoreBestOption = True,
    early_stopping: EarlyStoppingOption = None,
    base_model: BaseModelOption = None,
    weights: WeightsOption = "none",
    board: BoardOption = None,
    watch: Watch = True,
) -> None:
    """Train a new model on a dataset; follow it live and print its metrics."""
    if architecture is None and base_model is None:
        error_console.print("[red]Error: --architecture is required (or --base-model ID)[/red]")
        raise typer.Exit(2)
    with logged_in_client() as api:
        dataset_info = api.get_dataset(dataset)
        given, shown = _fixed_settings(api, base_model, architecture, alpha, (width, height, color))
        if board is not None:
            _print_estimate(
                api, shown["architecture"], board, _estimate_params(shown, dataset_info)
            )
        body: Json = {
            "name": name or f"{dataset_info['name']}-{shown['architecture']}",
            "dataset_id": dataset,
            **given,
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "validation_split": validation_split,
            "seed": seed,
            "restore_best_weights": restore_best,
            "early_stopping_patience": early_stopping,
            "base_model_id": base_model,
            "weights": int(weights) if weights.isdigit() else weights,
        }
        if flip or rotation or zoom or brightness:
            body["augmentation"] = {
                "flip": flip,
                "rotation": rotation,
                "zoom": zoom,
                "brightness": brightness,
            }
        model = _start_training(api, body, watch)
    for view in _metrics_view(model) if model is not None else []:
        console.print(view)


def _start_training(api: MlClient, body: Json, watch: bool) -> Json | None:
    """Submit the training; with `watch`, follow its job and return the trained model."""
    accepted = api.train(body)
    console.print(
        f"Training model '{escape(body['name'])}' (id {accepted['id']}), job {accepted['job_id']}"
    )
    if not watch:
        console.print(f"Follow it with tinymlaas jobs watch {accepted['job_id']}")
        return None
    end_unless_succeeded(follow_job(api, accepted["job_id"]))
    return api.get_model(accepted["id"])


FIXED_BY_BASE = {"architecture", "alpha", "input_width", "input_height", "color_mode"}


def _fixed_settings(
    api: MlClient,
    base_model: int | None,
    architecture: str | None,
    alpha: float | None,
    input_shape: tuple[int | None, int | None, ColorMode | None],
) -> tuple[Json, Json]:
    """The settings a base model fixes: those the user gave (sent; the server refuses ones
    that differ from the base's), and all of them as the model will have them."""
    width, height, color = input_shape
    given = _given({"architecture": architecture, "alpha": alpha})
    given |= _given({"input_width": width, "input_height": height, "color_mode": color})
    if base_model is None:
        return given, {"alpha": None} | given
    base = TrainingConfig.model_validate(api.get_model(base_model)["config"])
    return given, base.model_dump(include=FIXED_BY_BASE) | given


def _estimate_params(shown: Json, dataset_info: DatasetInfo) -> Json:
    """The query of the fit estimate printed before training."""
    params: Json = {
        "input_width": shown.get("input_width", 96),
        "input_height": shown.get("input_height", 96),
        "color_mode": shown.get("color_mode", "grayscale"),
        "classes": max(2, len(dataset_info["labels"])),
    }
    if shown.get("alpha") is not None:
        params["alpha"] = shown["alpha"]
    return params


def _given(options: Json) -> Json:
    """The options the user gave (the server fills in the others)."""
    return {key: value for key, value in options.items() if value is not None}


@models_app.command("list")
def list_models(
    dataset: Annotated[int | None, typer.Option(help="Only models of this dataset.")] = None,
    as_json: AsJson = False,
) -> None:
    """List your models, newest first."""
    with logged_in_client() as api:
        found = api.list_models(dataset)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    if not found:
        console.print(
            "No models yet: train one with tinymlaas train --dataset ID --architecture cnn-small"
        )
        return
    # 80 columns: the epochs and when it was created are in `models show` and --json
    listed = table(
        key("ID"), text("Name", 14), key("Dataset"), text("Architecture", 18),
        key("Status"), key("Val. acc."),
    )  # fmt: skip
    for model in found:
        listed.add_row(
            str(model["id"]),
            escape(model["name"]),
            str(model["dataset_id"] or "-"),
            f"{_architecture_of(model)}, {_input_of(model)}",
            model["status"],
            percent((model["metrics"] or {}).get("val_accuracy")),
        )
    console.print(listed)


@models_app.command("show")
def show_model(model_id: ModelId) -> None:
    """Show a model: its configuration, training history and metrics."""
    with logged_in_client() as api:
        model = api.get_model(model_id)
    config = TrainingConfig.model_validate(model["config"])
    rows = [
        ("Model", f"[bold]{escape(model['name'])}[/bold] (id {model['id']})"),
        ("Status", f"{model['status']} (job {model['job_id']})"),
        ("Dataset", str(model["dataset_id"] or "deleted")),
        ("Architecture", _architecture_of(model)),
        ("Input", f"{_input_of(model)} ({config.color_mode})"),
        ("Classes", escape(", ".join(model["classes"])) or "-"),
        ("Parameters", f"{model['parameter_count']:,}" if model["parameter_count"] else "-"),
        (
            "Training",
            f"{config.epochs} epochs, batch {config.batch_size}, "
            f"learning rate {config.learning_rate}, seed {config.seed}",
        ),
        ("Weights", escape(str((model["metrics"] or {}).get("weights") or config.weights))),
        ("Created", _when(model["created_at"])),
    ]
    if model["base_model_id"]:
        rows.insert(3, ("Continues", f"model {model['base_model_id']}"))
    if model["error"]:
        rows.append(("Error", f"[red]{escape(model['error'])}[/red]"))
    console.print(details(rows))
    if model["history"]:
        history = table(
            key("Epoch"), key("Loss"), key("Accuracy"), key("Val. loss"), key("Val. accuracy"),
            title="History",
        )  # fmt: skip
        for entry in model["history"]:
            history.add_row(
                str(entry["epoch"]),
                number(entry.get("loss")),
                percent(entry.get("accuracy")),
                number(entry.get("val_loss")),
                percent(entry.get("val_accuracy")),
            )
        console.print(history)
    for view in _metrics_view(model):
        console.print(view)


@models_app.command("delete")
def delete_model(model_id: ModelId, yes: Yes = False) -> None:
    """Delete a model and its compiled versions."""
    with logged_in_client() as api:
        model = api.get_model(model_id)
        label = f"'{model['name']}' (id {model['id']})"
        if not yes:
            typer.confirm(f"Delete model {label} and its compiled versions?", abort=True)
        api.delete_model(model_id)
    console.print(f"Deleted model {escape(label)}")
