"""`tinymlaas devices test …`: test a compiled model on the board itself and show the report."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from tinymlaas.cli.client_commands import console
from tinymlaas.cli.devices_commands import DeviceId, devices_app
from tinymlaas.cli.formatting import Json, details, key, moment, percent, table, text
from tinymlaas.cli.job_watch import end_unless_succeeded, follow_job
from tinymlaas.cli.ml_client import logged_in_client
from tinymlaas.cli.options import AsJson, Watch
from tinymlaas.contracts import TestSplit

TestId = Annotated[int, typer.Argument(help="The device test's id (see tinymlaas devices tests).")]
# Disagreeing images printed (the report lists up to 200, the page shows them all).
SHOWN_DISAGREEMENTS = 20


def _microseconds(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} µs"


def _answered(report: Json) -> str:
    unsent = report.get("not_sent") or 0
    return (
        f"{report['answered']} ({report['timeouts']} timeouts, {report['errors']} errors"
        + (f", [bold red]{unsent} not sent[/]" if unsent else "")
        + ")"
    )


def print_report(test: Json) -> None:
    """The report of a finished test: figures, classes, confusion, disagreeing images."""
    report: Json | None = test["report"]
    if report is None:
        state = f"{test['status']} ({test['stage']}, {test['done']}/{test['images']} answered)"
        console.print(f"Device test {test['id']}: {state} {escape(test['error'] or '')}")
        return
    agreement, latency = report["agreement"], report["latency_us"]
    colour = "green" if report["disagreement_count"] == 0 else "bold red"
    console.print(
        f"Device test {test['id']}: compiled model {test['compiled_id']} on device"
        f" {test['device_id']}, {report['images']} {test['split']} images"
        f" ({moment(test['created_at'])})"
    )
    console.print(
        details(
            [
                ("device accuracy", percent(report["device_accuracy"])),
                ("host int8 accuracy", percent(report["host_accuracy"])),
                ("host agreement", f"[{colour}]{percent(agreement['top1'])} identical top-1[/]"),
                ("scores within one step", percent(agreement["scores_within_one_step"])),
                ("identical outputs", percent(agreement["identical_outputs"])),
                ("answered", _answered(report)),
                (
                    "latency p50 / p95 / max",
                    " / ".join(_microseconds(latency[name]) for name in ("p50", "p95", "max")),
                ),
                (
                    "over the link",
                    f"{report['images_per_second'] or 0:.1f} images/s,"
                    f" {report['bytes_per_image'] or 0:.0f} bytes/image",
                ),
            ]
        )  # fmt: skip
    )
    if report.get("stopped"):
        console.print(f"[bold red]Stopped early: {escape(report['stopped'])}[/]")
    classes = table(text("label", 24), key("images"), key("device"), key("host int8"))
    for row in report["per_class"]:
        classes.add_row(
            escape(row["label"]),
            str(row["images"]),
            percent(row["device_accuracy"]),
            percent(row["host_accuracy"]),
        )
    console.print(classes)
    labels = report["confusion_labels"]
    confusion = table(text("true \\ board", 24), *(key(escape(label)) for label in labels))
    for label, counts in zip(labels, report["confusion"], strict=False):
        confusion.add_row(escape(label), *(str(count) for count in counts))
    console.print(confusion)
    _print_disagreements(report)


def _print_disagreements(report: Json) -> None:
    if not report["disagreement_count"]:
        return
    console.print(
        f"[bold red]{report['disagreement_count']} images where the board disagrees with the"
        " host:[/]"
    )
    rows = table(key("#"), key("image"), text("label", 20), text("board", 20), text("host", 20))
    for item in report["disagreements"][:SHOWN_DISAGREEMENTS]:
        rows.add_row(
            str(item["index"]),
            str(item["image_id"]),
            escape(item["label"]),
            escape(item["device"]),
            escape(item["host"]),
        )
    console.print(rows)


@devices_app.command("test")
def start_device_test(
    device_id: DeviceId,
    compiled: Annotated[
        int | None,
        typer.Option("--compiled", help="The compiled model (default: the installed one)."),
    ] = None,
    dataset: Annotated[
        int | None,
        typer.Option("--dataset", help="The dataset (default: the model's training set)."),
    ] = None,
    split: Annotated[
        TestSplit, typer.Option("--split", help="The held-out validation or test images, or all.")
    ] = "validation",
    limit: Annotated[
        int | None, typer.Option("--limit", help="At most this many images, spread evenly.")
    ] = None,
    watch: Watch = True,
    as_json: AsJson = False,
) -> None:
    """Test a compiled model on the board itself: held-out images, preprocessed as training
    did, go to the board over serial; shows its accuracy and agreement with the host's int8."""
    payload: Json = {"split": split}
    for name, value in (("compiled_id", compiled), ("dataset_id", dataset), ("limit", limit)):
        if value is not None:
            payload[name] = value
    with logged_in_client() as api:
        accepted = api.test_on_device(device_id, payload)
        if not as_json:
            console.print(
                f"Testing on device {device_id}: {accepted['images']} images,"
                f" job {accepted['job_id']} (device test {accepted['id']})"
            )
        if not watch:
            if as_json:
                console.print_json(json.dumps(accepted))
            return
        job = follow_job(api, accepted["job_id"]) if not as_json else None
        test = api.get_device_test(accepted["id"])
    if as_json:
        console.print_json(json.dumps(test))
        return
    print_report(test)
    if job is not None:
        end_unless_succeeded(job)


@devices_app.command("tests")
def list_tests(
    compiled: Annotated[int | None, typer.Option("--compiled", help="Only this model's.")] = None,
    device: Annotated[int | None, typer.Option("--device", help="Only this device's.")] = None,
    as_json: AsJson = False,
) -> None:
    """List device tests, newest first."""
    params: dict[str, str | int] = {}
    if compiled is not None:
        params["compiled_id"] = compiled
    if device is not None:
        params["device_id"] = device
    with logged_in_client() as api:
        items = api.list_device_tests(params)
    if as_json:
        console.print_json(json.dumps(items))
        return
    rows = table(
        key("id"), key("device"), key("compiled"), key("images"), key("status"),
        key("device acc."), key("agreement"), key("created"),
    )  # fmt: skip
    for item in items:
        report = item["report"] or {}
        rows.add_row(
            str(item["id"]), str(item["device_id"]), str(item["compiled_id"]),
            str(item["images"]), item["status"], percent(report.get("device_accuracy")),
            percent((report.get("agreement") or {}).get("top1")), moment(item["created_at"]),
        )  # fmt: skip
    console.print(rows)


@devices_app.command("test-report")
def show_test(test_id: TestId) -> None:
    """Show a device test's report."""
    with logged_in_client() as api:
        print_report(api.get_device_test(test_id))


def register() -> None:
    """The commands are on `devices_app`; importing this module added them."""
