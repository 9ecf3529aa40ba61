"""`tinymlaas boards`, `compile` and `compiled …`: compiling models for boards over the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tinymlaas.cli.client import ClientError
from tinymlaas.cli.client_commands import console, error_console
from tinymlaas.cli.formatting import (
    Json,
    details,
    flash_parts,
    key,
    memory_row,
    percent,
    ram_parts,
    size,
    table,
    text,
)
from tinymlaas.cli.job_watch import end_unless_succeeded, follow_job
from tinymlaas.cli.ml_client import MlClient, logged_in_client
from tinymlaas.cli.options import AsJson, ModelId, Watch, Yes
from tinymlaas.cli.progress import ByteProgress
from tinymlaas.contracts import Engine, Quantization
from tinymlaas.enums import JobStatus

compiled_app = typer.Typer(
    help="Models compiled for a board, and their files.", no_args_is_help=True
)

CompiledId = Annotated[
    int, typer.Argument(help="The compiled model's id (see tinymlaas compiled list).")
]


def register(app: typer.Typer) -> None:
    app.command()(boards)
    app.command("compile")(compile_model)
    app.add_typer(compiled_app, name="compiled")


def boards() -> None:
    """List the boards a model can be compiled for, with their memories."""
    with logged_in_client() as api:
        found = api.list_boards()
    listed = table(
        key("ID"), text("Name", 16), text("MCU", 16), key("Flash"), key("RAM"), title="Boards"
    )
    for board in found:
        clock = f" at {board['clock_mhz']} MHz" if board["clock_mhz"] else ""
        listed.add_row(
            board["id"],
            escape(board["name"]),
            escape(board["mcu"]) + clock,
            size(board["flash_bytes"]),
            size(board["ram_bytes"]),
        )
    console.print(listed)


def _device_row(compiled: Json, tested: Json | None) -> list[tuple[str, str]]:
    """The latest device test's figures beside the host's, as the compiled page shows them."""
    if compiled["quantization"] != "int8":
        return []
    if tested is None:
        return [
            (
                "On the device",
                "not tested on a device: install it, then tinymlaas devices test DEVICE_ID"
                f" --compiled {compiled['id']}",
            )
        ]
    report: Json = tested["report"]
    top1 = report["agreement"]["top1"]
    colour = "green" if report["disagreement_count"] == 0 else "bold red"
    return [
        (
            "On the device",
            f"{percent(report['device_accuracy'])} ({report['images']} images on device"
            f" {tested['device_id']}) · [{colour}]{percent(top1)} top-1 agreement with int8[/]"
            f" · tinymlaas devices test-report {tested['id']}",
        )
    ]


def _compiled_view(
    compiled: Json, boards_by_id: dict[str, Json], files: list[Json], tested: Json | None
) -> Table:
    board = boards_by_id.get(compiled["board"])
    board_name = f"{escape(board['name'])} ({compiled['board']})" if board else compiled["board"]
    rows = [
        (
            "Compiled",
            f"[bold]id {compiled['id']}[/bold]: model {compiled['model_id']} for {board_name}, "
            f"{compiled['quantization']}, engine {compiled.get('engine', 'tflm')}",
        ),
        ("Status", f"{compiled['status']} (job {compiled['job_id']})"),
    ]
    if compiled["error"]:
        rows.append(("Error", f"[red]{escape(compiled['error'])}[/red]"))
    if compiled["status"] != JobStatus.succeeded:
        return details(rows)
    detail: Json = compiled["fit_detail"] or {}
    ram, flash = detail.get("ram"), detail.get("flash")
    summary = str(detail.get("summary") or ("fits" if compiled["fits"] else "does not fit"))
    accuracy: Json = compiled["accuracy"] or {}
    tensor: Json = compiled["input"] or {}
    rows += [
        ("TFLite model", f"{size(compiled['tflite_bytes'])} ({compiled['tflite_bytes']:,} B)"),
        ("Tensor arena", f"{size(compiled['arena_bytes'])} measured in TFLite-Micro"),
        *_c_engine_rows(compiled),
        ("RAM", memory_row(ram, compiled["ram_estimate_bytes"], ram_parts(ram))),
        ("Flash", memory_row(flash, compiled["flash_estimate_bytes"], flash_parts(flash))),
        ("Verdict", f"[{'green' if compiled['fits'] else 'red'}]{escape(summary)}[/]"),
        (
            "Accuracy",
            f"float {percent(accuracy.get('float'))} · int8 {percent(accuracy.get('int8'))} · "
            f"TFLM {percent(accuracy.get('tflm'))}"
            + (f" · C {percent(accuracy.get('c'))}" if "c" in accuracy else "")
            + f" ({accuracy.get('images', 0)} held-out images)",
        ),
        *_device_row(compiled, tested),
        (
            "Input",
            f"{'×'.join(str(n) for n in tensor.get('shape', []))} {tensor.get('dtype', '')}, "
            f"scale {tensor.get('scale')}, zero point {tensor.get('zero_point')}",
        ),
        ("Files", ", ".join(f"{escape(f['name'])} ({size(f['size_bytes'])})" for f in files)),
    ]
    return details(rows)


def _in_place_note(activation: Json) -> str:
    saved = activation.get("in_place_saved_bytes") or 0
    return f"; {size(saved)} saved by in-place operators" if saved else ""


def _c_engine_rows(compiled: Json) -> list[tuple[str, str]]:
    """The C engine's activation plan and, once measured, its figures on the board's core."""
    rows = []
    activation: Json | None = compiled.get("activation")
    if activation:
        rows.append(
            (
                "Activations",
                f"{size(activation['peak_bytes'])} planned by the C engine"
                f" (per-operator floor {size(activation['floor_bytes'])}"
                + _in_place_note(activation)
                + ")",
            )
        )
    measured: Json | None = compiled.get("measured")
    if measured:
        latency = measured.get("latency_ms_estimate")
        rows.append(
            (
                f"Measured on {escape(str(measured['core']))}",
                f"flash {size(measured['flash_bytes'])} (weights"
                f" {size(measured['weights_bytes'])}, code {size(measured['code_bytes'])}) ·"
                f" RAM {size(measured['ram_bytes'])} (stack {size(measured['stack_bytes'])}) ·"
                f" {measured['instructions']:,} instructions per inference"
                + (f" · ~{latency:.1f} ms (estimate)" if latency is not None else ""),
            )
        )
    elif compiled.get("engine") == "c":
        rows.append(("Measured", "not yet on the board's core: flash and RAM are estimates"))
    return rows


def _latest_device_test(api: MlClient, compiled_id: int) -> Json | None:
    """The compiled model's latest device test with a report (newest first from the API)."""
    tests = api.list_device_tests({"compiled_id": compiled_id})
    return next((test for test in tests if test["report"] is not None), None)


def _print_compiled(api: MlClient, compiled: Json) -> None:
    boards_by_id = {board["id"]: board for board in api.list_boards()}
    succeeded = compiled["status"] == JobStatus.succeeded
    files = api.compiled_files(compiled["id"]) if succeeded else []
    tested = _latest_device_test(api, compiled["id"]) if succeeded else None
    console.print(_compiled_view(compiled, boards_by_id, files, tested))


def compile_model(
    model_id: ModelId,
    board: Annotated[
        str, typer.Option(help="The target board (see tinymlaas boards).", show_default=False)
    ],
    quantization: Annotated[
        Quantization, typer.Option(help="Full-integer int8, or float32.")
    ] = "int8",
    engine: Annotated[
        Engine,
        typer.Option(
            help="tflm: the TFLite-Micro interpreter; c: the model as dependency-free C99"
            " (int8), checked byte for byte against TFLite-Micro."
        ),
    ] = "tflm",
    watch: Watch = True,
) -> None:
    """Quantize and compile a trained model for a board, verified in TFLite-Micro."""
    with logged_in_client() as api:
        accepted = api.compile(model_id, board, quantization, engine)
        console.print(
            f"Compiling model {model_id} for {escape(board)} ({quantization}, {engine}): "
            f"compiled id {accepted['id']}, job {accepted['job_id']}"
        )
        if not watch:
            console.print(f"Follow it with tinymlaas jobs watch {accepted['job_id']}")
            return
        end_unless_succeeded(follow_job(api, accepted["job_id"]))
        _print_compiled(api, api.get_compiled(accepted["id"]))


@compiled_app.command("list")
def list_compiled(
    model: Annotated[int | None, typer.Option(help="Only compilations of this model.")] = None,
    as_json: AsJson = False,
) -> None:
    """List your compiled models, newest first."""
    with logged_in_client() as api:
        found = api.list_compiled(model)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    if not found:
        console.print("No compiled models yet: tinymlaas compile MODEL_ID --board BOARD")
        return
    # 80 columns: the sizes, the arena and when it was compiled are in `compiled show` and --json
    listed = table(
        key("ID"), key("Model"), key("Board"), key("Quant."), key("Status"), key("Fits"),
        key("TFLM acc."),
    )  # fmt: skip
    for compiled in found:
        fits = {True: "[green]yes[/green]", False: "[red]no[/red]", None: "-"}[compiled["fits"]]
        listed.add_row(
            str(compiled["id"]),
            str(compiled["model_id"]),
            compiled["board"],
            compiled["quantization"],
            compiled["status"],
            fits,
            percent((compiled["accuracy"] or {}).get("tflm")),
        )
    console.print(listed)


@compiled_app.command("show")
def show_compiled(compiled_id: CompiledId) -> None:
    """Show a compiled model: footprint against its board, accuracies, files."""
    with logged_in_client() as api:
        _print_compiled(api, api.get_compiled(compiled_id))


@compiled_app.command("download")
def download_compiled(
    compiled_id: CompiledId,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="The directory to write to, created if needed (default: compiled-ID here). "
            "Files of the same names in it are replaced.",
            file_okay=False,
        ),
    ] = None,
    file: Annotated[
        str | None, typer.Option("--file", help="Only this file, e.g. model.tflite.")
    ] = None,
) -> None:
    """Download a compiled model's files, each checked against its sha256."""
    directory = output or Path(f"compiled-{compiled_id}")
    with logged_in_client() as api:
        available = api.compiled_files(compiled_id)
        if not available:
            status = api.get_compiled(compiled_id)["status"]
            raise ClientError(f"compiled model {compiled_id} has no files (it is {status})")
        files = [item for item in available if file is None or item["name"] == file]
        if not files:
            names = ", ".join(item["name"] for item in available)
            raise ClientError(f"compiled model {compiled_id} has no file {file!r}; it has {names}")
        directory.mkdir(parents=True, exist_ok=True)
        for item in files:
            with ByteProgress(f"Downloading {item['name']}", error_console) as progress:
                saved = api.download_file(compiled_id, item, directory, progress)
            console.print(f"Saved {escape(str(saved.path))} ({size(saved.size)})")
    noun = "file" if len(files) == 1 else "files"
    console.print(f"Downloaded {len(files)} {noun} of compiled model {compiled_id}")


@compiled_app.command("delete")
def delete_compiled(compiled_id: CompiledId, yes: Yes = False) -> None:
    """Delete a compiled model and its files."""
    with logged_in_client() as api:
        compiled = api.get_compiled(compiled_id)
        label = f"{compiled_id} (model {compiled['model_id']} for {compiled['board']})"
        if not yes:
            typer.confirm(f"Delete compiled model {label} and its files?", abort=True)
        api.delete_compiled(compiled_id)
    console.print(f"Deleted compiled model {escape(label)}")
