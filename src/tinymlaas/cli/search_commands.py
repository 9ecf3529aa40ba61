"""`tinymlaas search start|watch|show|list|cancel`: the best model for a board, over the API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.markup import escape

from tinymlaas.cli.client import current_session
from tinymlaas.cli.client_commands import _reporting_errors, console, error_console
from tinymlaas.cli.formatting import Json, key, percent, size, table, text
from tinymlaas.cli.ml_client import MlClient
from tinymlaas.cli.options import AsJson
from tinymlaas.enums import FINISHED_STATUSES, JobStatus

search_app = typer.Typer(
    help="Search the catalog for the best model that fits a board.", no_args_is_help=True
)
SearchId = Annotated[int, typer.Argument(help="The search's id (see tinymlaas search list).")]
POLL_SECONDS = 2.0


def register(app: typer.Typer) -> None:
    app.add_typer(search_app, name="search")


class SearchClient(MlClient):
    """The search endpoints."""

    def start_search(self, body: Json) -> Json:
        accepted: Json = self._request("POST", "/searches", json_body=body).json()
        return accepted

    def list_searches(self) -> list[Json]:
        return self._all_pages("/searches", {})

    def get_search(self, search_id: int) -> Json:
        found: Json = self._request("GET", f"/searches/{search_id}").json()
        return found

    def deploy_candidate(self, search_id: int, candidate_id: int, device_id: int | None) -> Json:
        path = f"/searches/{search_id}/candidates/{candidate_id}/deploy"
        accepted: Json = self._request("POST", path, json_body={"device_id": device_id}).json()
        return accepted

    def cancel_search(self, search_id: int) -> Json:
        found: Json = self._request("POST", f"/searches/{search_id}/cancel").json()
        return found


@contextmanager
def search_client() -> Iterator[SearchClient]:
    with _reporting_errors():
        server, token = current_session()
        api = SearchClient(server, token)
        with api:
            yield api


@search_app.command()
def start(
    dataset: Annotated[int, typer.Option(help="The dataset's id.")],
    board: Annotated[str, typer.Option(help="The board to fit (see tinymlaas boards).")],
    budget: Annotated[float, typer.Option(help="Time budget in minutes.")] = 30,
    engine: Annotated[str, typer.Option(help="tflm or c.")] = "tflm",
    objective: Annotated[str, typer.Option(help="accuracy or accuracy_per_ms.")] = "accuracy",
    name: Annotated[str | None, typer.Option(help="The search's name.")] = None,
    max_latency: Annotated[float | None, typer.Option(help="Longest latency (ms).")] = None,
    ram_margin: Annotated[float, typer.Option(help="RAM/flash fraction kept free.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of every training.")] = 1234,
    architecture: Annotated[list[str] | None, typer.Option(help="Only these (repeat).")] = None,
    input_size: Annotated[list[int] | None, typer.Option(help="Only these sizes.")] = None,
    color: Annotated[list[str] | None, typer.Option(help="grayscale and/or rgb.")] = None,
    max_candidates: Annotated[int, typer.Option(help="Candidates of the first rung.")] = 12,
    first_epochs: Annotated[int, typer.Option(help="Epochs of the first rung.")] = 2,
    max_epochs: Annotated[int, typer.Option(help="Most epochs a candidate trains.")] = 60,
    weights: Annotated[
        list[str] | None,
        typer.Option(help="none, imagenet or a base id (see tinymlaas weights list); repeat"),
    ] = None,
    watch: Annotated[bool, typer.Option("--watch/--no-watch", help="Follow it.")] = True,
) -> None:
    """Start a search: candidates that fit the board train, the best third go on each rung."""
    body: Json = {
        "name": name or f"best for {board}",
        "dataset_id": dataset,
        "board": board,
        "engine": engine,
        "time_budget_minutes": budget,
        "objective": objective,
        "ram_margin": ram_margin,
        "seed": seed,
        "max_candidates": max_candidates,
        "first_epochs": first_epochs,
        "max_epochs": max_epochs,
    }
    optional = {
        "max_latency_ms": max_latency,
        "architectures": architecture,
        "input_sizes": input_size,
        "color_modes": color,
    }
    body |= {field: value for field, value in optional.items() if value}
    if weights:
        chosen = [int(w) if w.isdigit() else w for w in weights]
        body["weights"] = chosen if len(chosen) > 1 else chosen[0]
    with search_client() as api:
        accepted = api.start_search(body)
        search = api.get_search(accepted["id"])
        trained = sum(1 for c in search["candidates"] if c["status"] != "dropped")
        console.print(
            f"Search {accepted['id']} started (job {accepted['job_id']}):"
            f" {trained} of {len(search['candidates'])} candidates fit {escape(board)}"
            f" and train; the others were dropped before training."
        )
        if watch:
            _watch(api, accepted["id"])


@search_app.command("watch")
def watch_search(search_id: SearchId) -> None:
    """Follow a search: candidates as they train and drop out, then its recommendation."""
    with search_client() as api:
        _watch(api, search_id)


def _watch(api: SearchClient, search_id: int) -> None:
    seen: dict[int, str] = {}
    try:
        while True:
            search = api.get_search(search_id)
            for candidate in search["candidates"]:
                status = candidate["status"]
                if candidate["status"] != "dropped" and seen.get(candidate["id"]) != status:
                    seen[candidate["id"]] = status
                    console.print(_candidate_line(candidate))
            if search["status"] in FINISHED_STATUSES:
                break
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        error_console.print(f"Stopped watching; search {search_id} continues on the server.")
        raise typer.Exit(130) from None
    _print_search(search)
    if search["status"] != JobStatus.succeeded:
        raise typer.Exit(1)


def _candidate_line(candidate: Json) -> str:
    accuracy = candidate["val_accuracy"]
    shown = f" · val_accuracy {percent(accuracy)}" if accuracy is not None else ""
    reason = f" ({escape(candidate['reason'])})" if candidate["reason"] else ""
    return (
        f"{escape(candidate['label'])}: {candidate['status']}, rung {candidate['rung']},"
        f" {candidate['epochs_trained']} epoch(s){shown}{reason}"
    )


@search_app.command()
def show(search_id: SearchId, as_json: AsJson = False) -> None:
    """A search's candidates, its Pareto front and its recommendation."""
    with search_client() as api:
        search = api.get_search(search_id)
    if as_json:
        console.print_json(json.dumps(search))
        return
    _print_search(search)


def _print_search(search: Json) -> None:
    front = set(search["pareto_front"])
    listed = table(
        key("ID"), text("Candidate", 34), key("Status"), key("Epochs"), key("Val acc"),
        key("RAM"), key("Flash"), key("Latency"), key("Front"),
        title=f"Search {search['id']} '{escape(search['name'])}' for {search['board']}"
        f" ({search['engine']}): {search['status']}",
    )  # fmt: skip
    for c in search["candidates"]:
        latency = c["measured_latency_ms"] or c["latency_ms"]
        listed.add_row(
            str(c["id"]),
            escape(c["label"]),
            c["status"],
            str(c["epochs_trained"]),
            percent(c["val_accuracy"]),
            size(c["measured_ram_bytes"] or c["ram_bytes"]),
            size(c["measured_flash_bytes"] or c["flash_bytes"]),
            "-" if latency is None else f"~{latency:.1f} ms",
            "*" if c["id"] in front else "",
        )
    console.print(listed)
    console.print(
        f"Board RAM {size(search['board_ram_bytes'])} (limit with margin"
        f" {size(search['ram_limit_bytes'])}), flash {size(search['board_flash_bytes'])}"
        f" ({size(search['flash_limit_bytes'])}). [dim]{escape(search['latency_basis'])}[/dim]"
    )
    best = search["recommendation"]
    if best is None:
        console.print(f"No recommendation: {escape(search['message'])}")
        return
    compiled = best["compiled_id"]
    console.print(
        f"[green]Recommended: {escape(best['label'])}[/green], val_accuracy"
        f" {percent(best['val_accuracy'])}, measured RAM {size(best['measured_ram_bytes'])},"
        f" flash {size(best['measured_flash_bytes'])}: model {best['model_id']}, compiled"
        f" {compiled} (tinymlaas search deploy {search['id']} --device DEVICE)"
    )


@search_app.command("list")
def list_searches() -> None:
    """Your searches, newest first."""
    with search_client() as api:
        found = api.list_searches()
    listed = table(
        key("ID"), text("Name", 24), key("Board"), key("Status"), key("Phase"), key("Job"),
        title="Searches",
    )  # fmt: skip
    for search in found:
        listed.add_row(
            str(search["id"]), escape(search["name"]), search["board"], search["status"],
            search["phase"], str(search["job_id"]),
        )  # fmt: skip
    console.print(listed)


@search_app.command()
def deploy(
    search_id: SearchId,
    candidate: Annotated[
        int | None, typer.Argument(help="The candidate's id (default: the recommendation).")
    ] = None,
    device: Annotated[
        int | None, typer.Option(help="Install on this device once compiled (see devices list).")
    ] = None,
) -> None:
    """Compile a candidate for the search's board and install it on a device once compiled."""
    with search_client() as api:
        if candidate is None:
            candidate = api.get_search(search_id)["recommended_id"]
            if candidate is None:
                error_console.print(f"Search {search_id} has no recommendation: name a candidate.")
                raise typer.Exit(1)
        accepted = api.deploy_candidate(search_id, candidate, device)
    compiled = accepted["compiled_id"]
    started = accepted["compile_job_id"]
    said = f"compiling in job {started}" if started else "reusing its compile"
    console.print(f"Candidate {candidate}: compiled model {compiled} ({said}).")
    if accepted["install_job_id"] is not None:
        console.print(f"Install queued on device {device} (job {accepted['install_job_id']}).")
    elif accepted["install_pending"]:
        console.print(f"It is installed on device {device} as soon as its compile succeeds.")


@search_app.command()
def cancel(search_id: SearchId) -> None:
    """Cancel a search: every training it started stops."""
    with search_client() as api:
        found = api.cancel_search(search_id)
    console.print(f"Search {search_id}: {found['message']}")
