"""Benchmark: the same training as a TinyMLaaS job and as a plain Keras script, side by side.

Generates a deterministic, learnable image set (shapes and stripes in `--classes` label folders,
96×96 JPEGs), then per architecture:

- **script**: in this process, with TensorFlow already imported: decode the images with
  `tinymlaas.training.preprocess.batch_to_pixels`, a seeded stratified validation split, build
  with `tinymlaas.training.architectures.build_model`, Adam + sparse categorical cross-entropy,
  `model.fit` on NumPy arrays, `model.evaluate`, save the .keras file to bytes;
- **job (fresh worker)**: the real app under uvicorn in a thread (SQLite in a temporary folder,
  or PostgreSQL with `--backends`), the zip imported through `POST /api/v1/datasets/import`,
  a local worker started as production does (`python -m tinymlaas worker --local`, a separate
  process with the same `TINYMLAAS_DATABASE_URL`/`TINYMLAAS_SECRET_KEY`) right before
  `POST /api/v1/models`, timed from the job row's `created_at` (written by that POST) to its
  `finished_at` (`GET /api/v1/jobs/{id}` is polled every 0.5 s, as a browser would, and the
  client-side time from POST to the poll that saw it succeed is printed too);
- **job (warm worker)**: the same request again, on the worker that ran the first job (its
  TensorFlow is imported; what a busy server's steady state looks like). With `--rounds N`
  the script and the warm job run N times, interleaved, and the medians are compared: single
  runs on a 2-core machine vary by ±0.1 in ratio.

Same architecture, images, epochs, batch size, learning rate, validation fraction and seed
everywhere. The job's time is broken into stages from the job row and its events (read from the
database after the job ends).

    .venv/bin/python bench/training_job_vs_keras.py
    .venv/bin/python bench/training_job_vs_keras.py --architectures cnn-small --epochs 10
    .venv/bin/python bench/training_job_vs_keras.py --backends sqlite,postgresql
    .venv/bin/python bench/training_job_vs_keras.py --architectures mobilenet-v1:0.25 --rounds 3
"""

from __future__ import annotations

import argparse
import io
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from datasets_import_export import SECRET_KEY, load_average, running_service, scratch_database
from PIL import Image, ImageDraw, ImageFilter
from sqlalchemy import select

from tinymlaas.db.session import make_engine
from tinymlaas.models import Job, JobEvent

IMAGE_SIDE = 96
LEARNING_RATE = 0.001
VALIDATION_SPLIT = 0.2
SHAPES = ("circle", "cross", "square", "stripes_horizontal", "stripes_vertical", "triangle")
JOB_TIMEOUT_SECONDS = 900
POLL_SECONDS = 0.5


# Data: learnable classes, drawn deterministically.


def draw_example(rng: random.Random, shape: str) -> bytes:
    """One 96×96 JPEG of `shape` on a noisy gradient, in random colours, place and size."""
    background = (
        Image.linear_gradient("L").rotate(rng.randrange(360)).resize((IMAGE_SIDE, IMAGE_SIDE))
    )
    low, high = sorted((rng.randrange(0, 120), rng.randrange(100, 256)))
    background = background.point(lambda v: low + v * (high - low) // 255)
    tint = tuple(rng.uniform(0.6, 1.0) for _ in range(3))
    image = Image.merge("RGB", [background.point(lambda v, t=t: int(v * t)) for t in tint])
    draw = ImageDraw.Draw(image)
    ink = tuple(rng.choice((rng.randrange(0, 60), rng.randrange(200, 256))) for _ in range(3))
    size = rng.randrange(28, 64)
    x, y = rng.randrange(2, IMAGE_SIDE - size - 2), rng.randrange(2, IMAGE_SIDE - size - 2)
    width = rng.randrange(4, 9)
    if shape == "circle":
        draw.ellipse((x, y, x + size, y + size), outline=ink, width=width)
    elif shape == "square":
        draw.rectangle((x, y, x + size, y + size), outline=ink, width=width)
    elif shape == "triangle":
        draw.polygon([(x, y + size), (x + size, y + size), (x + size // 2, y)], fill=ink)
    elif shape == "cross":
        draw.line((x, y + size // 2, x + size, y + size // 2), fill=ink, width=width)
        draw.line((x + size // 2, y, x + size // 2, y + size), fill=ink, width=width)
    else:
        period = rng.randrange(10, 18)
        for offset in range(rng.randrange(period), IMAGE_SIDE, period):
            if shape == "stripes_horizontal":
                draw.line((0, offset, IMAGE_SIDE, offset), fill=ink, width=period // 3)
            else:
                draw.line((offset, 0, offset, IMAGE_SIDE), fill=ink, width=period // 3)
    noise = Image.frombytes("L", (IMAGE_SIDE, IMAGE_SIDE), rng.randbytes(IMAGE_SIDE * IMAGE_SIDE))
    image = Image.blend(image, Image.merge("RGB", [noise] * 3), rng.uniform(0.05, 0.2))
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.2)))
    output = io.BytesIO()
    image.save(output, format="JPEG", quality=85)
    return output.getvalue()


@dataclass(frozen=True)
class GeneratedDataset:
    classes: list[str]  # sorted, as the service orders them
    entries: list[tuple[str, bytes, int]]  # (zip path, JPEG bytes, class index)
    zip_bytes: bytes

    @property
    def payload_bytes(self) -> int:
        return sum(len(data) for _, data, _ in self.entries)


def generate_dataset(count: int, classes: int, seed: int) -> GeneratedDataset:
    """`count` images, round-robin over the first `classes` shapes; same seed, same zip."""
    if not 2 <= classes <= len(SHAPES):
        raise ValueError(f"--classes must be between 2 and {len(SHAPES)}")
    labels = sorted(SHAPES[:classes])
    rng = random.Random(seed)
    entries: list[tuple[str, bytes, int]] = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(count):
            label = index % classes
            data = draw_example(rng, labels[label])
            path = f"{labels[label]}/image_{index:05d}.jpg"
            # A fixed timestamp: same seed, same zip bytes.
            archive.writestr(
                zipfile.ZipInfo(path, (2026, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED
            )
            entries.append((path, data, label))
    return GeneratedDataset(labels, entries, buffer.getvalue())


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of train and validation: `fraction` of each class held out, seeded."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        order = rng.permutation(len(members))
        count = min(max(round(len(members) * fraction), 1), len(members) - 1)
        held += list(members[order[:count]])
        train += list(members[order[count:]])
    return np.sort(train), np.sort(held)


# The plain Keras script.


@dataclass
class ScriptResult:
    seconds: float
    cpu_seconds: float  # of this process, all threads
    accuracy: float
    stages: list[tuple[str, float]] = field(default_factory=list)


def keras_script(
    dataset: GeneratedDataset,
    architecture: str,
    alpha: float | None,
    epochs: int,
    batch: int,
    seed: int,
    builds_state: bool = False,
) -> ScriptResult:
    """What a careful person would write by hand; TensorFlow is imported before the clock.

    With `builds_state`, the script also creates the optimizer's and metrics' variables before
    `fit` as the job does (`training.traced.build_training_state`), so Keras traces its step once:
    the job against a script that knows that trick too.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    from keras.src.saving import saving_lib

    from tinymlaas.training.architectures import build_model
    from tinymlaas.training.preprocess import batch_to_pixels

    marks: list[tuple[str, float]] = []
    cpu_started = time.process_time()
    started = time.perf_counter()
    pixels = batch_to_pixels(
        (data for _, data, _ in dataset.entries), IMAGE_SIDE, IMAGE_SIDE, "grayscale"
    )
    labels = np.array([label for _, _, label in dataset.entries], dtype=np.int32)
    train, held = stratified_split(labels, VALIDATION_SPLIT, seed)
    x_train, y_train = pixels[train].astype(np.float32), labels[train]
    x_val, y_val = pixels[held].astype(np.float32), labels[held]
    marks.append(("decode images", time.perf_counter()))
    model = build_model(
        architecture, alpha, (IMAGE_SIDE, IMAGE_SIDE, 1), len(dataset.classes), seed=seed
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    if builds_state:
        from tinymlaas.training.traced import build_training_state

        build_training_state(model)
    keras.utils.set_random_seed(seed)
    marks.append(("build", time.perf_counter()))
    epoch_ends: list[float] = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: epoch_ends.append(time.perf_counter())
    )
    model.fit(
        x_train,
        y_train,
        batch_size=batch,
        epochs=epochs,
        validation_data=(x_val, y_val),
        shuffle=True,
        verbose=0,
        callbacks=[record],
    )
    marks.append(("first epoch (tracing)", epoch_ends[0]))
    marks.append((f"epochs 2–{epochs}", epoch_ends[-1]))
    _, accuracy = model.evaluate(x_val, y_val, batch_size=64, verbose=0)
    buffer = io.BytesIO()
    saving_lib.save_model(model, buffer)
    marks.append(("evaluate + save", time.perf_counter()))
    cpu = time.process_time() - cpu_started
    return ScriptResult(marks[-1][1] - started, cpu, float(accuracy), _durations(started, marks))


def _durations(started: float, marks: list[tuple[str, float]]) -> list[tuple[str, float]]:
    durations, previous = [], started
    for name, moment in marks:
        durations.append((name, moment - previous))
        previous = moment
    return durations


# The service side.


@contextmanager
def local_worker(database_url: str, data_dir: Path, log_path: Path) -> Iterator[subprocess.Popen]:
    """`python -m tinymlaas worker --local` as `tinymlaas serve` starts it, stopped afterwards."""
    env = {
        **os.environ,
        "TINYMLAAS_DATABASE_URL": database_url,
        "TINYMLAAS_SECRET_KEY": SECRET_KEY,
        "TINYMLAAS_DATA_DIR": str(data_dir),
    }
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tinymlaas", "worker", "--local"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def import_dataset(client: httpx.Client, dataset: GeneratedDataset, name: str) -> int:
    response = client.post(
        "/api/v1/datasets/import",
        files={"file": (f"{name}.zip", dataset.zip_bytes, "application/zip")},
        data={"name": name},
    )
    if response.status_code != 201:
        raise RuntimeError(f"import failed: {response.status_code} {response.text[:500]}")
    imported = response.json()
    if imported["image_count"] != len(dataset.entries):
        raise RuntimeError(f"imported {imported['image_count']} of {len(dataset.entries)} images")
    return int(imported["id"])


def wait_for_job(
    client: httpx.Client, job_id: int, worker: subprocess.Popen | None = None
) -> dict[str, Any]:
    """Poll the job until it ends; raise unless it succeeded."""
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while True:
        job = client.get(f"/api/v1/jobs/{job_id}").raise_for_status().json()
        if job["status"] == "succeeded":
            return dict(job)
        if job["status"] in ("failed", "cancelled"):
            raise RuntimeError(f"job {job_id} {job['status']}: {job['error']}")
        if worker is not None and worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} still {job['status']} after {JOB_TIMEOUT_SECONDS} s")
        time.sleep(POLL_SECONDS)


def job_stages(database_url: str, job_id: int) -> list[tuple[str, float]]:
    """Durations between the job's recorded moments: claim, loading, epochs, the end."""
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
    return stages_from_events(job.created_at, job.started_at, job.finished_at, events)


def stages_from_events(
    created: datetime, started: datetime, finished: datetime, events: list[Any]
) -> list[tuple[str, float]]:
    """Name the spans between the training task's progress events."""
    loading = [at for at, kind, data in events if data.get("message") == "loading images"]
    epochs = [at for at, kind, data in events if kind == "metric"]
    evaluating = [at for at, kind, data in events if data.get("message") == "evaluating"]
    marks = [("queued → claimed by the worker", started)]
    if loading:
        marks += [("claimed → task running (imports)", loading[0])]
        marks += [("load + decode images from the DB", loading[-1])]
    if epochs:
        marks += [("import TF/Keras, build, first epoch", epochs[0])]
        marks += [(f"epochs 2–{len(epochs)}", epochs[-1])]
    if evaluating:
        marks += [("end of fit (last progress write)", evaluating[0])]
    marks += [("evaluate, save, store, finish", finished)]
    durations, previous = [], created
    for name, moment in marks:
        durations.append((name, (moment - previous).total_seconds()))
        previous = moment
    return durations


@dataclass
class JobResult:
    seconds: float  # the job row's created_at → finished_at
    observed_seconds: float  # POST → the poll that saw it succeed
    worker_cpu_seconds: float  # the worker process, all threads, during the job
    server_cpu_seconds: float  # this process (API under uvicorn, client polls) during the job
    accuracy: float
    stages: list[tuple[str, float]]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def training_job(
    client: httpx.Client,
    database_url: str,
    request: dict[str, Any],
    worker: subprocess.Popen,
) -> JobResult:
    worker_cpu = process_cpu_seconds(worker.pid)
    server_cpu = time.process_time()
    started = time.perf_counter()
    response = client.post("/api/v1/models", json=request)
    if response.status_code != 202:
        raise RuntimeError(f"training refused: {response.status_code} {response.text[:500]}")
    accepted = response.json()
    job = wait_for_job(client, accepted["job_id"], worker)
    observed = time.perf_counter() - started
    seconds = (
        datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["created_at"])
    ).total_seconds()
    server_cpu = time.process_time() - server_cpu
    worker_cpu = process_cpu_seconds(worker.pid) - worker_cpu
    model = client.get(f"/api/v1/models/{accepted['id']}").raise_for_status().json()
    metrics = model["metrics"] or {}
    accuracy = metrics.get("held_out_accuracy", metrics.get("val_accuracy")) or math.nan
    stages = job_stages(database_url, accepted["job_id"])
    return JobResult(seconds, observed, worker_cpu, server_cpu, float(accuracy), stages)


# Running it.


@dataclass
class Rounds:
    """One architecture's runs on one backend: the script's and the warm job's, interleaved."""

    scripts: list[ScriptResult]
    cold: JobResult
    warms: list[JobResult]


@dataclass
class Comparison:
    architecture: str
    backend: str
    script: ScriptResult  # the median run
    cold: JobResult
    warm: JobResult | None  # the median run
    rounds: Rounds


def median_run(runs: list[Any]) -> Any:
    """The run with the median time (the lower middle of an even count)."""
    return sorted(runs, key=lambda run: run.seconds)[(len(runs) - 1) // 2]


def parse_architecture(text: str) -> tuple[str, float | None]:
    """`mobilenet-v1:0.25` → ("mobilenet-v1", 0.25); `cnn-small` → ("cnn-small", None)."""
    name, _, alpha = text.partition(":")
    return name, float(alpha) if alpha else None


def label(architecture: str, alpha: float | None) -> str:
    return architecture if alpha is None else f"{architecture} α{alpha:g}"


def run_service_side(
    backend: str,
    dataset: GeneratedDataset,
    work: Path,
    architectures: list[tuple[str, float | None]],
    arguments: argparse.Namespace,
) -> list[Rounds]:
    """On one fresh database: import once, then per architecture the script, a fresh worker's
    job, and the warm worker's jobs interleaved with more runs of the script."""
    results = []
    folder = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=work))
    with scratch_database(backend, folder) as url, running_service(url, folder / "data") as client:
        started = time.perf_counter()
        dataset_id = import_dataset(client, dataset, "bench-shapes")
        print(f"  [{backend}] imported in {time.perf_counter() - started:.2f} s", flush=True)
        for architecture, alpha in architectures:
            request = {
                "name": f"bench {label(architecture, alpha)}",
                "dataset_id": dataset_id,
                "architecture": architecture,
                "alpha": alpha,
                "input_width": IMAGE_SIDE,
                "input_height": IMAGE_SIDE,
                "color_mode": "grayscale",
                "epochs": arguments.epochs,
                "batch_size": arguments.batch_size,
                "learning_rate": LEARNING_RATE,
                "validation_split": VALIDATION_SPLIT,
                "seed": arguments.seed,
            }
            name = label(architecture, alpha)
            scripts = [script_run(dataset, architecture, alpha, arguments)]
            log = folder / "worker.log"
            with local_worker(url, folder / "data", log) as worker:
                cold = training_job(client, url, request, worker)
                print(
                    f"  [{backend}] {name}: job on a fresh worker {cold.seconds:.2f} s"
                    f" (observed {cold.observed_seconds:.2f} s; held-out accuracy"
                    f" {cold.accuracy:.3f})",
                    flush=True,
                )
                warms: list[JobResult] = []
                for round_ in range(0 if arguments.no_warm else arguments.rounds):
                    if round_:
                        scripts.append(script_run(dataset, architecture, alpha, arguments))
                    warm = training_job(client, url, request, worker)
                    warms.append(warm)
                    print(
                        f"  [{backend}] {name}: same job, warm worker {warm.seconds:.2f} s"
                        f" (observed {warm.observed_seconds:.2f} s; held-out accuracy"
                        f" {warm.accuracy:.3f})",
                        flush=True,
                    )
            results.append(Rounds(scripts, cold, warms))
    return results


def script_run(
    dataset: GeneratedDataset,
    architecture: str,
    alpha: float | None,
    arguments: argparse.Namespace,
) -> ScriptResult:
    result = keras_script(
        dataset,
        architecture,
        alpha,
        arguments.epochs,
        arguments.batch_size,
        arguments.seed,
        arguments.script_builds_state,
    )
    print(
        f"  [script] {label(architecture, alpha)}: {result.seconds:.2f} s"
        f" (validation accuracy {result.accuracy:.3f})",
        flush=True,
    )
    return result


def print_report(comparisons: list[Comparison]) -> None:
    header = (
        f"{'architecture':<20} {'backend':<10} {'':<4} {'script':>7} {'job':>7} {'job/script':>10}"
        f" {'warm job':>8} {'warm/script':>11}  held-out accuracy script / job"
    )
    print(header)
    print("-" * len(header))
    for c in comparisons:
        jobs = [c.cold, c.warm] if c.warm else [c.cold]
        for unit, script, values in (
            ("s", c.script.seconds, [job.seconds for job in jobs]),
            ("CPU", c.script.cpu_seconds, [job.worker_cpu_seconds for job in jobs]),
        ):
            cells = [f"{values[0]:7.2f} {values[0] / script:9.2f}×"]
            cells.append(
                f"{values[1]:8.2f} {values[1] / script:10.2f}×" if len(values) > 1 else " " * 20
            )
            accuracy = f"{c.script.accuracy:.3f} / {c.cold.accuracy:.3f}" if unit == "s" else ""
            name, backend = (c.architecture, c.backend) if unit == "s" else ("", "")
            print(
                f"{name:<20} {backend:<10} {unit:<4} {script:7.2f}"
                f" {cells[0]} {cells[1]}  {accuracy}"
            )
    print(
        "(s: wall seconds of the job row, created_at → finished_at, script from decode to saved"
        " bytes; CPU: user+system seconds of the worker process vs this process for the script;"
        " medians of the interleaved rounds)"
    )
    for c in comparisons:
        print()
        print(f"{c.architecture} ({c.backend}): where the time goes, wall seconds")
        rows = [("script", c.script.stages), ("job, fresh worker", c.cold.stages)]
        if c.warm:
            rows.append(("job, warm worker", c.warm.stages))
        for title, stages in rows:
            total = sum(seconds for _, seconds in stages)
            parts = ", ".join(f"{name} {seconds:.2f}" for name, seconds in stages)
            print(f"  {title:<18} {total:6.2f} = {parts}")
        if len(c.rounds.warms) > 1:
            pairs = zip(c.rounds.scripts, c.rounds.warms, strict=True)
            cells = [
                f"{s.seconds:.2f} / {w.seconds:.2f} = {w.seconds / s.seconds:.2f}×"
                for s, w in pairs
            ]
            print("  rounds (script s / warm job s = ratio): " + ", ".join(cells))
            ratio = statistics.median(w.seconds for w in c.rounds.warms) / statistics.median(
                s.seconds for s in c.rounds.scripts
            )
            print(f"  ratio of medians {ratio:.2f}×")
        for title, job in (("fresh", c.cold), ("warm", c.warm)):
            if job:
                print(
                    f"  API process CPU during the {title} job (requests, polls every"
                    f" {POLL_SECONDS} s): {job.server_cpu_seconds:.2f} s"
                )


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--architectures",
        default="cnn-small,mobilenet-v1:0.25",
        help="comma-separated NAME[:ALPHA] (default: cnn-small,mobilenet-v1:0.25)",
    )
    parser.add_argument("--images", type=int, default=600, help="images in the dataset")
    parser.add_argument("--classes", type=int, default=4, help="classes (2–6)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--backends", default="sqlite", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the images and training")
    parser.add_argument("--no-warm", action="store_true", help="skip the second, warm-worker job")
    parser.add_argument(
        "--script-builds-state",
        action="store_true",
        help="the script builds the optimizer's and metrics' variables before fit, as the job does",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="script and warm job runs, interleaved (medians)"
    )
    arguments = parser.parse_args(argv)
    arguments.architectures = [
        parse_architecture(item.strip()) for item in arguments.architectures.split(",") if item
    ]
    arguments.backends = [name.strip() for name in arguments.backends.split(",") if name.strip()]
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    print(f"Load average before: {load_average()} (on {os.cpu_count()} CPUs)", flush=True)
    started = time.perf_counter()
    dataset = generate_dataset(arguments.images, arguments.classes, arguments.seed)
    print(
        f"Generated {len(dataset.entries)} images in {len(dataset.classes)} classes"
        f" ({', '.join(dataset.classes)}; {dataset.payload_bytes / 1e6:.1f} MB of JPEG,"
        f" zip {len(dataset.zip_bytes) / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    started = time.perf_counter()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf  # outside every timed span: the script's process has it loaded

    print(f"TensorFlow {tf.__version__} imported in {time.perf_counter() - started:.1f} s")
    comparisons = []
    with tempfile.TemporaryDirectory(prefix="tinymlaas-bench-") as temporary:
        for backend in arguments.backends:
            jobs = run_service_side(
                backend, dataset, Path(temporary), arguments.architectures, arguments
            )
            for (architecture, alpha), rounds in zip(arguments.architectures, jobs, strict=True):
                comparisons.append(
                    Comparison(
                        label(architecture, alpha),
                        backend,
                        median_run(rounds.scripts),
                        rounds.cold,
                        median_run(rounds.warms) if rounds.warms else None,
                        rounds,
                    )
                )
    print(f"Load average after: {load_average()}")
    print()
    print_report(comparisons)
    return 0


if __name__ == "__main__":
    sys.exit(main())
