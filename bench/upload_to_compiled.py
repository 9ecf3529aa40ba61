"""Benchmark: from uploading a dataset zip to a downloadable compiled model, through the HTTP API.

Generates a deterministic, learnable zip (`--images`, default 2,000 96×96 JPEGs of shapes and
stripes in `--classes` label folders; the generator of `training_job_vs_keras.py`), starts the
real app under uvicorn in a thread (SQLite in a temporary folder, or PostgreSQL with
`--backend postgresql`) and one local worker as `tinymlaas serve` does
(`python -m tinymlaas worker --local`, a separate process on the same database), waits until
the worker polls, then times each stage a user goes through:

1. import: `POST /api/v1/datasets/import`;
2. train: `POST /api/v1/models` (cnn-small, 96×96 grayscale, `--epochs`) until its job succeeded;
3. compile: `POST /api/v1/models/{id}/compile` (`--board`, int8) until its job succeeded;
4. download: `GET /api/v1/compiled/{id}/files`, then every file, checked against its sha256.

    .venv/bin/python bench/upload_to_compiled.py
    .venv/bin/python bench/upload_to_compiled.py --images 5000 --epochs 10 --backend postgresql
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from datasets_import_export import load_average, running_service, scratch_database
from sqlalchemy import select
from training_job_vs_keras import (
    IMAGE_SIDE,
    LEARNING_RATE,
    VALIDATION_SPLIT,
    generate_dataset,
    import_dataset,
    local_worker,
    process_cpu_seconds,
    stages_from_events,
    wait_for_job,
)

from tinymlaas.db.session import make_engine
from tinymlaas.models import Job, JobEvent

WORKER_READY_LINE = "taking jobs from the database"


def wait_until_polling(worker: subprocess.Popen, log_path: Path, timeout: float = 120) -> None:
    """Block until the worker has logged that it takes jobs (imports done, loop entered)."""
    deadline = time.monotonic() + timeout
    while WORKER_READY_LINE not in log_path.read_text(errors="replace"):
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}: see {log_path}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not start within {timeout} s")
        time.sleep(0.02)


def job_timeline(database_url: str, job_id: int, kind: str) -> list[tuple[str, float]]:
    """(what the job was doing, seconds) from its row and its progress messages."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            job = connection.execute(select(Job).where(Job.id == job_id)).one()
            events = connection.execute(
                select(JobEvent.created_at, JobEvent.type, JobEvent.data)
                .where(JobEvent.job_id == job_id)
                .order_by(JobEvent.id)
            ).all()
    finally:
        engine.dispose()
    if kind == "train":
        return stages_from_events(job.created_at, job.started_at, job.finished_at, events)
    marks: list[tuple[str, datetime]] = [("waiting for the worker", job.started_at)]
    current = "starting the task"
    for at, kind, data in events:
        message = data.get("message")
        if kind != "progress" or not message or at < job.started_at:
            continue
        if message != current:
            marks.append((current, at))
            current = message
    marks.append((current, job.finished_at))
    timeline, previous = [], job.created_at
    for name, moment in marks:
        if (moment - previous).total_seconds() > 0 or name == "waiting for the worker":
            timeline.append((name, (moment - previous).total_seconds()))
        previous = moment
    return timeline


def run_job(
    client: httpx.Client, path: str, body: dict[str, Any], worker: subprocess.Popen
) -> tuple[dict[str, Any], float]:
    """POST a job-starting request and wait for the job; returns (accepted reply, worker CPU)."""
    cpu = process_cpu_seconds(worker.pid)
    response = client.post(path, json=body)
    if response.status_code != 202:
        raise RuntimeError(f"{path} refused: {response.status_code} {response.text[:500]}")
    accepted = dict(response.json())
    wait_for_job(client, accepted["job_id"], worker)
    return accepted, process_cpu_seconds(worker.pid) - cpu


def download_all(client: httpx.Client, compiled_id: int) -> dict[str, int]:
    """Every file of the compiled model, checked against the sha256 the listing gives."""
    listing = client.get(f"/api/v1/compiled/{compiled_id}/files").raise_for_status().json()
    sizes = {}
    for item in listing["items"]:
        response = client.get(f"/api/v1/compiled/{compiled_id}/files/{item['name']}")
        response.raise_for_status()
        if hashlib.sha256(response.content).hexdigest() != item["sha256"]:
            raise RuntimeError(f"{item['name']}: downloaded bytes differ from their sha256")
        sizes[item["name"]] = len(response.content)
    return sizes


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="images in the zip")
    parser.add_argument("--classes", type=int, default=5, help="classes (2–6)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--board", default="nano33ble")
    parser.add_argument("--backend", default="sqlite", help="sqlite or postgresql")
    parser.add_argument("--seed", type=int, default=2026)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    print(f"Load average before: {load_average()} (on {os.cpu_count()} CPUs)", flush=True)
    started = time.perf_counter()
    dataset = generate_dataset(arguments.images, arguments.classes, arguments.seed)
    print(
        f"Generated {len(dataset.entries)} images in {len(dataset.classes)} classes"
        f" ({dataset.payload_bytes / 1e6:.1f} MB of JPEG,"
        f" zip {len(dataset.zip_bytes) / 1e6:.1f} MB)"
        f" in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    stages: list[tuple[str, float, float | None]] = []  # (stage, wall s, worker CPU s)
    timelines: dict[str, list[tuple[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="tinymlaas-bench-") as temporary:
        folder = Path(temporary)
        with (
            scratch_database(arguments.backend, folder) as url,
            running_service(url, folder / "data") as client,
        ):
            log = folder / "worker.log"
            log.touch()
            spawned = time.perf_counter()
            with local_worker(url, folder / "data", log) as worker:
                wait_until_polling(worker, log)
                print(
                    f"Worker polling {time.perf_counter() - spawned:.2f} s after it was started"
                    " (not counted below: `tinymlaas serve` starts it with the server)",
                    flush=True,
                )
                total_started = time.perf_counter()

                began = time.perf_counter()
                dataset_id = import_dataset(client, dataset, "bench-upload")
                stages.append(("import", time.perf_counter() - began, None))
                print(f"  import    {stages[-1][1]:7.2f} s", flush=True)

                began = time.perf_counter()
                request = {
                    "name": "bench upload-to-compiled",
                    "dataset_id": dataset_id,
                    "architecture": "cnn-small",
                    "input_width": IMAGE_SIDE,
                    "input_height": IMAGE_SIDE,
                    "color_mode": "grayscale",
                    "epochs": arguments.epochs,
                    "batch_size": arguments.batch_size,
                    "learning_rate": LEARNING_RATE,
                    "validation_split": VALIDATION_SPLIT,
                    "seed": arguments.seed,
                }
                trained, cpu = run_job(client, "/api/v1/models", request, worker)
                stages.append(("train", time.perf_counter() - began, cpu))
                timelines["train"] = job_timeline(url, trained["job_id"], "train")
                print(f"  train     {stages[-1][1]:7.2f} s", flush=True)

                began = time.perf_counter()
                compile_request = {"board": arguments.board, "quantization": "int8"}
                compiled, cpu = run_job(
                    client, f"/api/v1/models/{trained['id']}/compile", compile_request, worker
                )
                stages.append(("compile", time.perf_counter() - began, cpu))
                timelines["compile"] = job_timeline(url, compiled["job_id"], "compile")
                print(f"  compile   {stages[-1][1]:7.2f} s", flush=True)

                began = time.perf_counter()
                sizes = download_all(client, compiled["id"])
                stages.append(("download", time.perf_counter() - began, None))
                total = time.perf_counter() - total_started
                print(f"  download  {stages[-1][1]:7.2f} s", flush=True)

            model = client.get(f"/api/v1/models/{trained['id']}").raise_for_status().json()
            result = client.get(f"/api/v1/compiled/{compiled['id']}").raise_for_status().json()
    print(f"Load average after: {load_average()}")
    print()
    print_report(stages, total, timelines, model, result, sizes)
    return 0


def print_report(
    stages: list[tuple[str, float, float | None]],
    total: float,
    timelines: dict[str, list[tuple[str, float]]],
    model: dict[str, Any],
    compiled: dict[str, Any],
    sizes: dict[str, int],
) -> None:
    print(f"{'stage':<10} {'seconds':>8} {'share':>6} {'worker CPU s':>13}")
    print("-" * 40)
    for name, seconds, cpu in stages:
        cpu_text = f"{cpu:13.2f}" if cpu is not None else f"{'–':>13}"
        print(f"{name:<10} {seconds:8.2f} {seconds / total:6.0%} {cpu_text}")
    print(f"{'total':<10} {total:8.2f}")
    for name, timeline in timelines.items():
        parts = ", ".join(f"{what} {seconds:.2f}" for what, seconds in timeline)
        print(f"  {name} job: {parts}")
    print()
    metrics = model["metrics"] or {}
    info = f"{model['parameter_count']:,} parameters, classes {', '.join(model['classes'])}"
    print(f"Model: {info}")
    print(
        f"  after {len(model['history'])} epochs: accuracy {metrics.get('accuracy')},"
        f" val_accuracy {metrics.get('val_accuracy')}"
        f" on {metrics.get('evaluated_images')} {metrics.get('evaluated_on')} images"
    )
    accuracy = compiled["accuracy"] or {}
    print(
        f"Compiled for {compiled['board']} ({compiled['quantization']}):"
        f" accuracy float {accuracy.get('float')}, int8 {accuracy.get('int8')},"
        f" TFLM {accuracy.get('tflm')} on {accuracy.get('images')} held-out images"
    )
    print(
        f"  .tflite {compiled['tflite_bytes']:,} B, tensor arena {compiled['arena_bytes']:,} B,"
        f" RAM estimate {compiled['ram_estimate_bytes']:,} B,"
        f" flash estimate {compiled['flash_estimate_bytes']:,} B, fits: {compiled['fits']}"
    )
    listed = ", ".join(f"{name} {size:,} B" for name, size in sorted(sizes.items()))
    print(f"  files (sha256 checked): {listed}")


if __name__ == "__main__":
    sys.exit(main())
