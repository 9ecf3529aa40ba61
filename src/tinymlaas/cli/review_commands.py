"""`tinymlaas datasets review …` and `tinymlaas devices capture-rule …`: doubtful predictions'
frames waiting in a dataset's review queue, and which predictions of a device keep theirs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.markup import escape

from tinymlaas.cli.client import current_session
from tinymlaas.cli.client_commands import _reporting_errors, console, datasets_app
from tinymlaas.cli.devices_commands import DeviceId, devices_app
from tinymlaas.cli.formatting import Json, details, key, moment, percent, table, text
from tinymlaas.cli.ml_client import MlClient
from tinymlaas.cli.options import AsJson, Yes

review_app = typer.Typer(
    help="A dataset's review queue: frames your devices were unsure about.", no_args_is_help=True
)
capture_app = typer.Typer(
    help="Which of a device's predictions send their frame to a review queue.",
    no_args_is_help=True,
)
DatasetId = Annotated[int, typer.Argument(help="The dataset's id (see tinymlaas datasets list).")]
ItemIds = Annotated[
    list[int] | None, typer.Argument(help="Review item ids (see tinymlaas datasets review list).")
]
All = Annotated[bool, typer.Option("--all", help="Every item waiting in the queue.")]


def register() -> None:
    datasets_app.add_typer(review_app, name="review")
    devices_app.add_typer(capture_app, name="capture-rule")


class ReviewClient(MlClient):
    """The review queue and capture rule endpoints."""

    def review_items(self, dataset_id: int, limit: int) -> Json:
        path = f"/datasets/{dataset_id}/review"
        page: Json = self._request("GET", path, params={"limit": limit}).json()
        return page

    def all_review_ids(self, dataset_id: int) -> list[int]:
        items = self._all_pages(f"/datasets/{dataset_id}/review", {})
        return [int(item["id"]) for item in items]

    def review(self, dataset_id: int, action: str, body: Json) -> Json:
        path = f"/datasets/{dataset_id}/review/{action}"
        done: Json = self._request("POST", path, json_body=body).json()
        return done

    def capture_rule(self, device_id: int, method: str, body: Json | None = None) -> Json:
        response = self._request(method, f"/devices/{device_id}/capture-rule", json_body=body)
        rule: Json = response.json() if response.content else {}
        return rule


@contextmanager
def _client() -> Iterator[ReviewClient]:
    with _reporting_errors():
        server, token = current_session()
        api = ReviewClient(server, token)
        with api:
            yield api


def _ids(api: ReviewClient, dataset_id: int, item_ids: list[int] | None, every: bool) -> list[int]:
    if every:
        return api.all_review_ids(dataset_id)
    if not item_ids:
        raise typer.BadParameter("give review item ids, or --all", param_hint="ITEM_IDS")
    return item_ids


def _report(done: Json) -> None:
    noun = "frame" if done["count"] == 1 else "frames"
    images = ", ".join(str(image_id) for image_id in done["image_ids"])
    made = f" as images {images}" if images else ""
    console.print(f"{done['action'].capitalize()} {done['count']} {noun}{made}")
    console.print(f"{done['queued']} still waiting")


@review_app.command("list")
def list_items(
    dataset_id: DatasetId,
    limit: Annotated[int, typer.Option(help="How many to show.", min=1, max=1000)] = 50,
    as_json: AsJson = False,
) -> None:
    """The frames waiting for review, the most doubtful first."""
    with _client() as api:
        page = api.review_items(dataset_id, limit)
    if as_json:
        typer.echo(json.dumps(page, indent=2))
        return
    if not page["items"]:
        console.print(
            "Nothing to review: give a device a capture rule"
            " (tinymlaas devices capture-rule set DEVICE_ID --dataset ID --below 0.6)"
        )
        return
    listed = table(
        key("ID"), text("Predicted", 14), key("Score"), key("Doubt"), key("Why"), key("Device"),
        key("Kept"),
    )  # fmt: skip
    for item in page["items"]:
        score = item["scores"].get(item["label"])
        listed.add_row(
            str(item["id"]),
            escape(item["label"]),
            percent(score),
            percent(item["uncertainty"]),
            item["reason"].replace("_", " "),
            str(item["device_id"] or "-"),
            moment(item["created_at"]),
        )
    console.print(listed)
    if page["total"] > len(page["items"]):
        console.print(f"{len(page['items'])} of {page['total']} shown (--limit for more)")


@review_app.command("accept")
def accept(dataset_id: DatasetId, item_ids: ItemIds = None, every: All = False) -> None:
    """File frames under their predicted label."""
    with _client() as api:
        done = api.review(dataset_id, "accept", {"ids": _ids(api, dataset_id, item_ids, every)})
    _report(done)


@review_app.command("relabel")
def relabel(
    dataset_id: DatasetId,
    item_ids: ItemIds = None,
    label: Annotated[str, typer.Option(help="The label (folder) to file them under.")] = "",
    every: All = False,
) -> None:
    """File frames under another label."""
    if not label.strip():
        raise typer.BadParameter("give the label to file them under", param_hint="--label")
    with _client() as api:
        ids = _ids(api, dataset_id, item_ids, every)
        done = api.review(dataset_id, "relabel", {"ids": ids, "label": label})
    _report(done)


@review_app.command("discard")
def discard(
    dataset_id: DatasetId, item_ids: ItemIds = None, every: All = False, yes: Yes = False
) -> None:
    """Drop frames from the queue (they are not added to the dataset)."""
    with _client() as api:
        ids = _ids(api, dataset_id, item_ids, every)
        if not yes and not typer.confirm(f"Discard {len(ids)} frames?"):
            raise typer.Abort()
        done = api.review(dataset_id, "discard", {"ids": ids})
    _report(done)


def _frame_counts(counts: Json) -> str:
    return (
        f"kept {counts['kept']}, dropped {counts['dropped_hourly_cap']} (hourly cap)"
        f" and {counts['dropped_queue_full']} (queue full), rejected {counts['rejected']}"
    )


def _print_rule(rule: Json) -> None:
    def optional(value: object) -> str:
        return "-" if value is None else str(value)

    rows = [
        ("Device", str(rule["device_id"])),
        ("Review queue of", f"{escape(rule['dataset_name'])} (dataset {rule['dataset_id']})"),
        ("State", "on" if rule["enabled"] else "off"),
        ("Top score below", optional(rule["below_score"])),
        ("Top two within", optional(rule["margin"])),
        ("Random per hour", optional(rule["sample_per_hour"])),
        ("At most per hour", str(rule["max_per_hour"])),
        ("Kept this hour", str(rule["kept_last_hour"])),
        ("Waiting in the queue", f"{rule['queued']} of at most {rule['queue_max']}"),
        ("This hour (UTC)", _frame_counts(rule["counts"]["this_hour"])),
        ("In total", _frame_counts(rule["counts"]["total"])),
    ]
    console.print(details(rows))


@capture_app.command("show")
def show_rule(device_id: DeviceId, as_json: AsJson = False) -> None:
    """Show the device's capture rule and what it kept this hour."""
    with _client() as api:
        rule = api.capture_rule(device_id, "GET")
    if as_json:
        typer.echo(json.dumps(rule, indent=2))
    else:
        _print_rule(rule)


@capture_app.command("set")
def set_rule(
    device_id: DeviceId,
    dataset: Annotated[int, typer.Option(help="The dataset whose review queue gets the frames.")],
    below: Annotated[float | None, typer.Option(help="Keep when the top score is below.")] = None,
    margin: Annotated[float | None, typer.Option(help="Keep when the top two are within.")] = None,
    sample_per_hour: Annotated[int | None, typer.Option(help="Also keep N an hour.")] = None,
    max_per_hour: Annotated[int, typer.Option(help="Keep at most this many an hour.")] = 60,
    enabled: Annotated[bool, typer.Option("--on/--off", help="Switch the rule on or off.")] = True,
) -> None:
    """Create or replace the device's capture rule."""
    body: Json = {"dataset_id": dataset, "max_per_hour": max_per_hour, "enabled": enabled}
    body |= {"below_score": below, "margin": margin, "sample_per_hour": sample_per_hour}
    with _client() as api:
        rule = api.capture_rule(device_id, "PUT", body)
    _print_rule(rule)


@capture_app.command("delete")
def delete_rule(device_id: DeviceId) -> None:
    """Stop sending the device's frames to review."""
    with _client() as api:
        api.capture_rule(device_id, "DELETE")
    console.print(f"Device {device_id} no longer sends frames to review")
