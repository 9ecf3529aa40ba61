"""Benchmark: a model search for a board against the catalog's fixed defaults, and the cycles
per MAC behind the search's latency estimate.

- **search**: the real app under uvicorn in a thread as `tinymlaas serve` runs it (SQLite in a
  temporary folder, the embedded default: one supervised local worker process, the job
  maintenance and the search coordinator threads); a generated set of `--images` images in 4 classes
  imported through the API, then `POST /api/v1/searches` for `--board` with `--budget`
  minutes; timed until its job ends. Prints every candidate, the recommendation and its
  estimated against measured RAM/flash.
- **defaults**: on the same worker, each architecture at its catalog default (α, 96×96
  grayscale) that fits the board, trained for the same total time as the search took (an equal
  share each: one epoch, then continued for as many epochs as the rest of its share holds at
  that pace); the best validation accuracy and the time.
- **--workers celery:N**: the same search on Celery (Redis at 127.0.0.1:6379) with 1 worker
  process, then with N, each `tinymlaas worker --pool solo`: the wall times side by side.
- **--calibrate**: untrained int8 models of the catalog turned into the C engine's C, built for
  a Cortex-M4 and run once under QEMU: instructions, MACs (search/macs.py) and cycles per MAC
  at the core's assumed 1.2 cycles per instruction (search/space.py's CYCLES_PER_MAC).

    .venv/bin/python bench/model_search.py               # 1,000 images, 30 minutes
    .venv/bin/python bench/model_search.py --quick       # 240 images, 6 minutes, small space
    .venv/bin/python bench/model_search.py --workers celery:2        # 1 worker, then 2
    .venv/bin/python bench/model_search.py --calibrate
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from datasets_import_export import ADMIN_PASSWORD, SECRET_KEY, load_average
from training_job_vs_keras import generate_dataset, import_dataset, wait_for_job

from tinymlaas.app import create_app
from tinymlaas.config import Settings
from tinymlaas.hardware.boards import get_board
from tinymlaas.search import space
from tinymlaas.search.macs import count_macs
from tinymlaas.training import catalog

CLASSES = 4
REDIS = "redis://127.0.0.1:6379/0"
CALIBRATION = (("cnn-small", 1.0, 32), ("cnn-small", 0.5, 48), ("mobilenet-v1", 0.25, 32),
               ("mobilenet-v2", 0.1, 32))  # fmt: skip


@contextmanager
def serving(work: Path, celery_workers: int = 0) -> Iterator[httpx.Client]:
    """`tinymlaas serve` in a thread: the app with its background threads and, without
    `celery_workers`, its local worker; with them, that many `tinymlaas worker` processes on
    a queue of their own on Redis."""
    # Worker processes read their settings from the environment, as under `serve`.
    os.environ["TINYMLAAS_DATABASE_URL"] = f"sqlite:///{work / 'bench.db'}"
    os.environ["TINYMLAAS_SECRET_KEY"] = SECRET_KEY
    os.environ["TINYMLAAS_DATA_DIR"] = str(work)
    # On a shared, loaded machine a training worker's heartbeat can lag past the default
    # 30 s and its job be failed as stale (seen at a load average of 16 on 2 cores).
    os.environ.setdefault("TINYMLAAS_JOB_STALE_SECONDS", "120")
    if celery_workers:
        os.environ["TINYMLAAS_BROKER_URL"] = REDIS
        os.environ["TINYMLAAS_CELERY_QUEUE"] = f"tinymlaas-bench-{secrets.token_hex(4)}"
    else:
        os.environ.pop("TINYMLAAS_BROKER_URL", None)
    settings = Settings(admin_password=ADMIN_PASSWORD)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    app = create_app(settings, run_workers=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        while not server.started:
            time.sleep(0.05)
        for _ in range(celery_workers):
            command = [sys.executable, "-m", "tinymlaas", "worker", "--pool", "solo"]
            quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
            workers.append(subprocess.Popen(command, **quiet))
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with httpx.Client(base_url=url, timeout=None) as client:
            token = client.post(
                "/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
            ).raise_for_status()
            client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            yield client
    finally:
        for worker in workers:
            # Celery's warm shutdown waits for a running job (a training the search stopped):
            # not worth waiting for once the search has ended.
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        server.should_exit = True
        thread.join(timeout=60)
        listener.close()


@contextmanager
def bench_server(celery_workers: int = 0) -> Iterator[httpx.Client]:
    """`serving` in a temporary folder of its own, removed afterwards."""
    with (
        tempfile.TemporaryDirectory(prefix="tinymlaas-bench-") as temporary,
        serving(Path(temporary), celery_workers) as client,
    ):
        yield client


def run_search(client: httpx.Client, dataset_id: int, arguments: argparse.Namespace) -> Any:
    body: dict[str, Any] = {
        "name": "bench", "dataset_id": dataset_id, "board": arguments.board,
        "engine": arguments.engine,
        "time_budget_minutes": arguments.budget, "objective": "accuracy", "seed": 7,
    }  # fmt: skip
    if arguments.quick:
        body |= {"input_sizes": [32, 48], "max_candidates": 4, "first_epochs": 1}
    started = time.perf_counter()
    accepted = client.post("/api/v1/searches", json=body).raise_for_status().json()
    while True:
        search = client.get(f"/api/v1/searches/{accepted['id']}").raise_for_status().json()
        if search["status"] in ("succeeded", "failed", "cancelled"):
            return search, time.perf_counter() - started
        time.sleep(2)


def print_search(search: Any, seconds: float) -> None:
    print(f"\nSearch: {search['status']} in {seconds / 60:.1f} min: {search['message']}")
    for c in search["candidates"]:
        if c["status"] == "dropped":
            continue
        accuracy = "-" if c["val_accuracy"] is None else f"{c['val_accuracy']:.3f}"
        print(f"  {c['label']:<36} {c['status']:<11} epochs {c['epochs_trained']:>2}"
              f"  val_acc {accuracy}  RAM {c['ram_bytes']:>7,}  ~{c['latency_ms']} ms"
              f"  {c['reason'] or ''}")  # fmt: skip
    dropped = sum(1 for c in search["candidates"] if c["status"] == "dropped")
    print(f"  ({dropped} dropped before training or not sampled)")
    best = search["recommendation"]
    if best:
        for what in ("ram", "flash"):
            estimate, measured = best[f"{what}_bytes"], best[f"measured_{what}_bytes"]
            print(f"  recommended {what}: estimate {estimate:,} B, measured {measured:,} B"
                  f" ({estimate / measured - 1:+.2%})")  # fmt: skip


def run_defaults(client: httpx.Client, dataset_id: int, board_id: str, seconds: float) -> None:
    """Each fitting catalog default trained for an equal share of `seconds`: one epoch, then
    continued for as many epochs as the rest of its share holds at the last pace, again until
    not one more epoch fits."""
    board = get_board(board_id)
    fitting = []
    for arch in catalog.ARCHITECTURES.values():
        spec = space.CandidateSpec(arch.id, arch.default_alpha, arch.default_input, "grayscale")
        verdict = space.assess(spec, board, "tflm", CLASSES, 0.1, None)
        if verdict.drop_reason is None:
            fitting.append(spec)
        else:
            print(f"  default {spec.label}: does not fit ({verdict.drop_reason})")
    share = seconds / max(1, len(fitting))
    started, best = time.perf_counter(), (0.0, "")
    for spec in fitting:
        began = time.perf_counter()
        body = {
            "name": f"default {spec.label}", "dataset_id": dataset_id,
            "architecture": spec.architecture, "alpha": spec.alpha,
            "input_width": spec.input_size, "input_height": spec.input_size,
            "epochs": 1, "seed": 7,
        }  # fmt: skip
        model, epochs = train(client, body), 1
        pace = time.perf_counter() - began
        # Continue for what the share still holds at the last pace (later epochs run faster
        # than the first, which traces the model), until not one more epoch fits.
        while (more := int((share - (time.perf_counter() - began)) // pace)) >= 1:
            step = time.perf_counter()
            body = {"name": f"{spec.label} +{more}", "dataset_id": dataset_id,
                    "base_model_id": model["id"], "epochs": more}  # fmt: skip
            model, epochs = train(client, body), epochs + more
            pace = (time.perf_counter() - step) / more
        accuracy = model["metrics"]["val_accuracy"]
        took = time.perf_counter() - began
        print(f"  default {spec.label}: {epochs} epochs in {took / 60:.1f} min"
              f" (share {share / 60:.1f}), val_acc {accuracy:.3f}")  # fmt: skip
        best = max(best, (accuracy, spec.label))
    total = time.perf_counter() - started
    print(f"Defaults: best {best[1]} val_acc {best[0]:.3f}; all trained in {total / 60:.1f} min")


def train(client: httpx.Client, body: dict[str, Any]) -> Any:
    model = client.post("/api/v1/models", json=body).raise_for_status().json()
    wait_for_job(client, model["job_id"])
    return client.get(f"/api/v1/models/{model['id']}").raise_for_status().json()


def compare_workers(dataset: Any, arguments: argparse.Namespace, count: int) -> None:
    """The same search with 1 Celery worker process, then with `count`: wall times."""
    walls = {}
    for workers in dict.fromkeys((1, count)):
        with bench_server(celery_workers=workers) as client:
            dataset_id = import_dataset(client, dataset, "shapes")
            search, seconds = run_search(client, dataset_id, arguments)
        trained = [c for c in search["candidates"] if c["epochs_trained"]]
        epochs = sum(c["epochs_trained"] for c in trained)
        print(
            f"{workers} Celery worker(s): {search['status']} in {seconds / 60:.2f} min,"
            f" {len(trained)} candidates trained {epochs} epochs; {search['message']}"
        )
        walls[workers] = (seconds, epochs)
    (one, one_epochs), (many, many_epochs) = walls[1], walls[count]
    print(
        f"Wall time: 1 worker {one / 60:.2f} min, {count} workers {many / 60:.2f} min:"
        f" {one / many:.2f}x faster; per epoch trained {one / one_epochs:.1f} s vs"
        f" {many / many_epochs:.1f} s ({one / one_epochs / (many / many_epochs):.2f}x)"
    )


def calibrate() -> None:
    from tinymlaas.compiling.tflite import convert
    from tinymlaas.engine import baremetal, host
    from tinymlaas.engine.codegen import generate
    from tinymlaas.training.architectures import build_model, recalibrate_batch_norm

    nano = get_board("nano33ble")
    rng = np.random.default_rng(3)
    for architecture, alpha, size in CALIBRATION:
        images = rng.integers(0, 256, (32, size, size, 1)).astype(np.float32)
        model = build_model(architecture, alpha, (size, size, 1), 3, seed=0)
        recalibrate_batch_norm(model, images)
        library = generate(convert(model, "int8", images))
        sample = host.quantize_pixels(library, images[:1].astype(np.uint8))[0]
        result = baremetal.measure(
            library.files, "cortex-m4f", nano.app_flash_bytes, nano.ram_bytes,
            np.ascontiguousarray(sample, dtype=np.int8).tobytes(),
        )  # fmt: skip
        macs = count_macs(architecture, alpha, size, size, 1, 3)
        print(f"{architecture} α{alpha:g} {size}×{size}: {macs:,} MACs, {result.instructions:,}"
              f" instructions, {result.instructions * 1.2 / macs:.1f} cycles/MAC")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--board", default="nano33ble")
    parser.add_argument("--engine", default="tflm", choices=("tflm", "c"))
    parser.add_argument("--budget", type=float, default=30, help="search budget in minutes")
    parser.add_argument("--quick", action="store_true", help="240 images, 6 min, small space")
    parser.add_argument(
        "--workers", default="local", help="local (the embedded default) or celery:N"
    )
    parser.add_argument("--calibrate", action="store_true", help="cycles per MAC only")
    arguments = parser.parse_args()
    print(f"Load average before: {load_average()} (on {os.cpu_count()} CPUs)", flush=True)
    if arguments.calibrate:
        calibrate()
        return
    if arguments.quick:
        budget_given = "--budget" in sys.argv
        arguments.images = 240
        arguments.budget = arguments.budget if budget_given else 6
    dataset = generate_dataset(arguments.images, CLASSES, 2026)
    if arguments.workers.startswith("celery:"):
        compare_workers(dataset, arguments, int(arguments.workers.removeprefix("celery:")))
    elif arguments.workers == "local":
        with bench_server() as client:
            dataset_id = import_dataset(client, dataset, "shapes")
            search, seconds = run_search(client, dataset_id, arguments)
            print_search(search, seconds)
            run_defaults(client, dataset_id, arguments.board, seconds)
    else:
        parser.error(f"--workers must be local or celery:N, not {arguments.workers!r}")
    print(f"Load average after: {load_average()}")


if __name__ == "__main__":
    main()
