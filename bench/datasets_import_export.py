"""Benchmark: import a zip of labelled images into the real service and export it again.

Generates a deterministic zip of small distinct images, then for each backend starts the real
app (`create_app`) under uvicorn in a background thread, imports the zip through
`POST /api/v1/datasets/import`, exports it through `GET /api/v1/datasets/{id}/export` and checks
that the export holds the same paths with byte-identical content. A baseline does the same work
with plain tools on the same zip: `unzip -q` plus a Pillow open/verify/load of every file, and
`zip -q -r -0` of the unzipped folder.

    .venv/bin/python bench/datasets_import_export.py --images 10000 --backends sqlite,postgresql

Peak RSS is that of this whole process (client and server share it), per phase: the kernel's
high-water mark (VmHWM in /proc/self/status) is reset before each phase through
/proc/self/clear_refs; where that is refused, a thread samples VmRSS every 5 ms instead. The
growth column is that peak minus the RSS when the phase started. With --repeat N every phase
runs N times (each service run on a fresh database) and the fastest run is reported.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from PIL import Image, ImageDraw

from tinymlaas.app import create_app
from tinymlaas.config import Settings
from tinymlaas.db.session import make_engine

POSTGRESQL_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ADMIN_PASSWORD = "bench-admin-password"
SECRET_KEY = "bench-secret-key-" + "x" * 32
LABELS = 10
IMAGE_SIDE = 96
PNG_EVERY = 5  # one image in five is a PNG, the others JPEGs
MB = 10**6

# Images: gradients, a coarse colour field and random shapes, so each compresses like a photo
# would (JPEG ~3.3 KB, PNG ~2.1 KB) rather than like noise or a flat colour.
_LINEAR = Image.linear_gradient("L").resize((IMAGE_SIDE, IMAGE_SIDE))
_RADIAL = Image.radial_gradient("L").resize((IMAGE_SIDE, IMAGE_SIDE))
_ROTATED = [_LINEAR.rotate(angle) for angle in range(0, 360, 15)]


@dataclass(frozen=True)
class GeneratedZip:
    path: Path
    digests: dict[str, str]  # entry path -> sha256 of its bytes
    payload_bytes: int  # the images' bytes, uncompressed


@dataclass(frozen=True)
class Measurement:
    phase: str
    backend: str
    seconds: float
    images: int
    payload_bytes: int
    peak_rss_bytes: int
    start_rss_bytes: int
    note: str = ""


def _shifted(rng: random.Random) -> list[int]:
    offset = rng.randrange(256)
    return [(value + offset) % 256 for value in range(256)]


def make_image(rng: random.Random, image_format: str) -> bytes:
    """One 96×96 picture drawn from `rng`, encoded as JPEG (quality 85) or 64-colour PNG."""
    red = rng.choice(_ROTATED).point(_shifted(rng))
    green = _RADIAL.point(_shifted(rng))
    coarse = IMAGE_SIDE // 8
    blue = Image.frombytes("L", (coarse, coarse), rng.randbytes(coarse * coarse))
    image = Image.merge("RGB", (red, green, blue.resize(red.size, Image.Resampling.BILINEAR)))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randrange(3, 8)):
        x, y = rng.randrange(IMAGE_SIDE), rng.randrange(IMAGE_SIDE)
        box = (x, y, x + rng.randrange(5, 50), y + rng.randrange(5, 50))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.ellipse(box, fill=colour)
        else:
            draw.line(box, fill=colour, width=rng.randrange(1, 5))
    output = io.BytesIO()
    if image_format == "JPEG":
        image.save(output, format="JPEG", quality=85)
    else:
        image.quantize(64, method=Image.Quantize.FASTOCTREE).save(output, format="PNG")
    return output.getvalue()


def generate_zip(count: int, seed: int, path: Path) -> GeneratedZip:
    """Write a deflated zip of `count` distinct images in LABELS folders; same seed, same zip."""
    rng = random.Random(seed)
    digests: dict[str, str] = {}
    seen: set[str] = set()
    payload = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for index in range(count):
            image_format = "PNG" if index % PNG_EVERY == 0 else "JPEG"
            while True:  # distinct content: identical bytes would be stored once by the service
                data = make_image(rng, image_format)
                digest = hashlib.sha256(data).hexdigest()
                if digest not in seen:
                    break
            seen.add(digest)
            extension = "png" if image_format == "PNG" else "jpg"
            entry = f"label_{index % LABELS:02d}/image_{index:05d}.{extension}"
            archive.writestr(entry, data)
            digests[entry] = digest
            payload += len(data)
    return GeneratedZip(path, digests, payload)


class PeakRss:
    """Peak resident memory of this process between `start()` and `stop()`."""

    def __init__(self) -> None:
        self.peak = 0
        self.start_rss = 0
        self._sampler: threading.Thread | None = None
        self._stopping = threading.Event()

    @staticmethod
    def _status(field: str) -> int:
        text = Path("/proc/self/status").read_text()
        match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
        return int(match.group(1)) * 1024 if match else 0

    def start(self) -> None:
        self.start_rss = self._status("VmRSS")
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            self._sampler = None
        except OSError:
            self.peak = self._status("VmRSS")
            self._stopping.clear()
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()

    def _sample(self) -> None:
        while not self._stopping.wait(0.005):
            self.peak = max(self.peak, self._status("VmRSS"))

    def stop(self) -> int:
        if self._sampler is None:
            self.peak = self._status("VmHWM")
        else:
            self._stopping.set()
            self._sampler.join()
        return self.peak


@contextmanager
def measured() -> Iterator[dict[str, float]]:
    """Time a block and record the process's peak RSS during it."""
    result: dict[str, float] = {}
    rss = PeakRss()
    rss.start()
    started = time.perf_counter()
    try:
        yield result
    finally:
        result["seconds"] = time.perf_counter() - started
        result["peak_rss"] = rss.stop()
        result["start_rss"] = rss.start_rss


# Baseline: the same work with ordinary tools.


def check_image(path: Path) -> None:
    """What a careful script would do with each file: verify it, then decode every pixel."""
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        image.load()


def baseline_import(generated: GeneratedZip, folder: Path) -> Measurement:
    with measured() as result:
        started = time.perf_counter()
        subprocess.run(["unzip", "-q", str(generated.path), "-d", str(folder)], check=True)
        unzipped = time.perf_counter()
        for entry in generated.digests:
            check_image(folder / entry)
        decoded = time.perf_counter()
    note = f"unzip -q {unzipped - started:.2f} s + Pillow verify/load {decoded - unzipped:.2f} s"
    return _measurement("import", "baseline", result, generated, note)


def baseline_export(generated: GeneratedZip, folder: Path, output: Path) -> Measurement:
    with measured() as result:
        subprocess.run(["zip", "-q", "-r", "-0", str(output), "."], cwd=folder, check=True)
    verify_export(output, generated)
    return _measurement("export", "baseline", result, generated, "zip -q -r -0")


def _measurement(
    phase: str, backend: str, result: dict[str, float], generated: GeneratedZip, note: str = ""
) -> Measurement:
    return Measurement(
        phase=phase,
        backend=backend,
        seconds=result["seconds"],
        images=len(generated.digests),
        payload_bytes=generated.payload_bytes,
        peak_rss_bytes=int(result["peak_rss"]),
        start_rss_bytes=int(result["start_rss"]),
        note=note,
    )


# The service.


@contextmanager
def scratch_database(backend: str, work: Path) -> Iterator[str]:
    """A database URL for `backend`: a file in `work`, or a PostgreSQL database dropped after."""
    if backend == "sqlite":
        yield f"sqlite:///{work / 'bench.db'}"
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend!r} (use sqlite or postgresql)")
    name = f"tinymlaas_bench_{secrets.token_hex(4)}"
    server = make_engine(POSTGRESQL_SERVER_URL, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRESQL_SERVER_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with server.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.dispose()


@contextmanager
def running_service(database_url: str, data_dir: Path) -> Iterator[httpx.Client]:
    """The real app under uvicorn in a thread on a free loopback port; yields a logged-in client."""
    settings = Settings(
        database_url=database_url,
        secret_key=SECRET_KEY,
        admin_password=ADMIN_PASSWORD,
        data_dir=data_dir,
        max_request_bytes=8 * 2**30,
    )
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=None) as client:
            response = client.post(
                "/api/v1/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
            )
            response.raise_for_status()
            client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        listener.close()


def service_import(
    client: httpx.Client, backend: str, generated: GeneratedZip
) -> tuple[Measurement, int]:
    with measured() as result, generated.path.open("rb") as upload:
        response = client.post(
            "/api/v1/datasets/import",
            files={"file": ("bench.zip", upload, "application/zip")},
            data={"name": f"bench-{backend}"},
        )
    if response.status_code != 201:
        raise RuntimeError(f"import failed: {response.status_code} {response.text[:500]}")
    dataset = response.json()
    if dataset["image_count"] != len(generated.digests):
        raise RuntimeError(f"imported {dataset['image_count']} of {len(generated.digests)} images")
    return _measurement("import", backend, result, generated), dataset["id"]


def service_export(
    client: httpx.Client, backend: str, dataset_id: int, generated: GeneratedZip, output: Path
) -> Measurement:
    first_byte = 0.0
    with measured() as result, output.open("wb") as sink:
        started = time.perf_counter()
        with client.stream("GET", f"/api/v1/datasets/{dataset_id}/export") as response:
            response.raise_for_status()
            for chunk in response.iter_raw(2**20):
                if not first_byte:
                    first_byte = time.perf_counter() - started
                sink.write(chunk)
    verify_export(output, generated)
    return _measurement(
        "export", backend, result, generated, f"first byte after {first_byte:.2f} s"
    )


def verify_export(path: Path, generated: GeneratedZip) -> None:
    """The zip at `path` must hold exactly the generated files, byte for byte."""
    found: dict[str, str] = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.is_dir():
                found[info.filename.removeprefix("./")] = hashlib.sha256(
                    archive.read(info)
                ).hexdigest()
    if found != generated.digests:
        missing = sorted(set(generated.digests) - set(found))[:3]
        extra = sorted(set(found) - set(generated.digests))[:3]
        changed = sorted(p for p in found if generated.digests.get(p) not in (None, found[p]))[:3]
        raise RuntimeError(
            f"{path.name} differs: missing {missing}, extra {extra}, changed {changed}"
        )


def run_baseline(generated: GeneratedZip, work: Path) -> list[Measurement]:
    folder = work / "unzipped"
    imported = baseline_import(generated, folder)
    print(f"  import  {imported.seconds:7.2f} s ({imported.note})", flush=True)
    exported = baseline_export(generated, folder, work / "baseline.zip")
    print(f"  export  {exported.seconds:7.2f} s", flush=True)
    shutil.rmtree(folder)
    (work / "baseline.zip").unlink()
    return [imported, exported]


def run_backend(backend: str, generated: GeneratedZip, work: Path) -> list[Measurement]:
    """Import then export on a fresh database and a freshly started service."""
    folder = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=work))
    with scratch_database(backend, folder) as url, running_service(url, folder / "data") as client:
        imported, dataset_id = service_import(client, backend, generated)
        print(f"  import  {imported.seconds:7.2f} s", flush=True)
        exported = service_export(client, backend, dataset_id, generated, folder / "export.zip")
        print(f"  export  {exported.seconds:7.2f} s ({exported.note})", flush=True)
    shutil.rmtree(folder)
    return [imported, exported]


def fastest(runs: list[list[Measurement]]) -> list[Measurement]:
    """Per phase, the fastest of the repeated runs."""
    return [min(same_phase, key=lambda m: m.seconds) for same_phase in zip(*runs, strict=True)]


# Report.


def print_table(measurements: list[Measurement]) -> None:
    baselines = {m.phase: m.seconds for m in measurements if m.backend == "baseline"}
    header = (
        f"{'phase':<7} {'backend':<11} {'seconds':>8} {'images/s':>9} {'MB/s':>7}"
        f" {'peak RSS MB':>11} {'(growth)':>8} {'vs baseline':>11}  note"
    )
    print(header)
    print("-" * len(header))
    for m in sorted(measurements, key=lambda m: (m.phase != "import", m.backend != "baseline")):
        ratio = m.seconds / baselines[m.phase] if baselines.get(m.phase) else float("nan")
        growth = (m.peak_rss_bytes - m.start_rss_bytes) / MB
        print(
            f"{m.phase:<7} {m.backend:<11} {m.seconds:8.2f} {m.images / m.seconds:9.0f}"
            f" {m.payload_bytes / MB / m.seconds:7.2f} {m.peak_rss_bytes / MB:11.0f}"
            f" {f'(+{growth:.0f})':>8} {ratio:10.1f}×  {m.note}"
        )


def load_average() -> str:
    return ", ".join(Path("/proc/loadavg").read_text().split()[:3])


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000, help="images in the zip")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="runs per phase; fastest is kept")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the generated images")
    arguments = parser.parse_args(argv)
    arguments.backends = [name.strip() for name in arguments.backends.split(",") if name.strip()]
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    for tool in ("unzip", "zip"):
        if shutil.which(tool) is None:
            sys.exit(f"the baseline needs `{tool}` on PATH (apt-get install {tool})")
    print(f"Load average before: {load_average()} (on {os.cpu_count()} CPUs)", flush=True)
    with tempfile.TemporaryDirectory(prefix="tinymlaas-bench-") as temporary:
        work = Path(temporary)
        started = time.perf_counter()
        generated = generate_zip(arguments.images, arguments.seed, work / "images.zip")
        print(
            f"Generated {len(generated.digests)} images ({generated.payload_bytes / MB:.1f} MB,"
            f" zip {generated.path.stat().st_size / MB:.1f} MB)"
            f" in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        measurements: list[Measurement] = []
        for backend in ["baseline", *arguments.backends]:
            runs = []
            for run in range(1, arguments.repeat + 1):
                print(f"{backend} (run {run} of {arguments.repeat})", flush=True)
                if backend == "baseline":
                    runs.append(run_baseline(generated, work))
                else:
                    runs.append(run_backend(backend, generated, work))
            measurements += fastest(runs)
    print(f"Load average after: {load_average()}")
    print()
    print_table(measurements)
    return 0


if __name__ == "__main__":
    sys.exit(main())
