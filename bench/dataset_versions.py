"""Benchmark: what dataset versions cost (the check every training request makes, a snapshot,
a diff) on a dataset of N images.

Fills a scratch database (migrated as the service does) with one dataset of `--images` rows in
10 label folders, each pointing at its own small blob (versions copy rows, never bytes, so
the blobs' size does not matter), then times through the service functions:

- **snapshot**: `versions.create_version` of the whole dataset (read rows, fingerprint, insert
  version rows);
- **check, unchanged**: `versions.current_version` when nothing changed (what a training
  request pays when it reuses the latest version: read rows and fingerprint them);
- **check + snapshot after one move**: `current_version` after one image changed label;
- **diff**: `versions.diff` between the two versions.

    .venv/bin/python bench/dataset_versions.py --images 10000 --backends sqlite,postgresql

Each phase runs in its own transaction, rolled back for the read-only ones; the fastest of
`--repeat` runs is reported.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from datasets_import_export import load_average, scratch_database
from sqlalchemy import insert
from sqlalchemy.orm import Session

from tinymlaas.auth.service import create_user
from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.datasets import service as datasets
from tinymlaas.datasets import versions
from tinymlaas.db import migrate
from tinymlaas.db.base import utcnow
from tinymlaas.db.session import make_engine, make_session_factory
from tinymlaas.models import Dataset, Image


def fill(session: Session, images: int) -> int:
    """A dataset of `images` rows in 10 label folders, each with a blob of its own."""
    owner = create_user(session, "bench", "bench-password")
    dataset = datasets.create_dataset(session, owner, "bench")
    blobs = DatabaseBlobStore(session).put_many(f"image {i}".encode() for i in range(images))
    now = utcnow()
    rows = [
        {
            "dataset_id": dataset.id, "folder": f"label{i % 10}", "name": f"{i:06d}.png",
            "label": f"label{i % 10}", "split": None, "width": 96, "height": 96,
            "format": "PNG", "size_bytes": blob.size_bytes, "sha256": blob.sha256,
            "created_at": now, "updated_at": now,
        }
        for i, blob in enumerate(blobs)
    ]  # fmt: skip
    for start in range(0, len(rows), 1000):
        session.execute(insert(Image), rows[start : start + 1000])
    for label in range(10):
        datasets.create_folder(session, dataset, f"label{label}")
    return dataset.id


def timed(factory: Callable[[], Session], work: Callable[[Session], object], keep: bool) -> float:
    with factory() as session:
        started = time.perf_counter()
        work(session)
        session.flush()
        elapsed = time.perf_counter() - started
        if keep:
            session.commit()
        else:
            session.rollback()
    return elapsed


def run(backend: str, images: int, repeat: int, work_dir: Path) -> None:
    with scratch_database(backend, work_dir) as url:
        engine = make_engine(url)
        migrate.upgrade(engine)
        factory = make_session_factory(engine)
        with factory() as session:
            dataset_id = fill(session, images)
            session.commit()

        def dataset(session: Session) -> Dataset:
            return session.get_one(Dataset, dataset_id)

        def snapshot(session: Session) -> object:
            return versions.create_version(session, dataset(session), "bench")

        def check(session: Session) -> object:
            return versions.current_version(session, dataset(session), "bench")

        def move_and_check(session: Session) -> object:
            image = session.query(Image).filter_by(dataset_id=dataset_id).first()
            assert image is not None
            image.folder = image.label = "label9" if image.label != "label9" else "label0"
            session.flush()
            return versions.current_version(session, dataset(session), "bench")

        figures = {
            "snapshot": min(timed(factory, snapshot, False) for _ in range(repeat)),
        }
        timed(factory, snapshot, True)
        figures["check, unchanged"] = min(timed(factory, check, False) for _ in range(repeat))
        figures["check + snapshot after one move"] = min(
            timed(factory, move_and_check, False) for _ in range(repeat)
        )
        timed(factory, move_and_check, True)
        figures["diff v1 → v2"] = min(
            timed(factory, lambda s: versions.diff(s, dataset(s), 1, 2), False)
            for _ in range(repeat)
        )
        engine.dispose()
    for phase, seconds in figures.items():
        print(f"{backend:<11} {images:>7} images  {phase:<33} {seconds * 1000:8.0f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs per phase; fastest is kept")
    arguments = parser.parse_args(argv)
    print(f"Load average before: {load_average()} (on {os.cpu_count()} CPUs)", flush=True)
    for backend in arguments.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="tinymlaas-bench-") as temporary:
            run(backend.strip(), arguments.images, arguments.repeat, Path(temporary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
