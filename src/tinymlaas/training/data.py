"""Turn a dataset's stored images into training arrays (worker side; no TensorFlow)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.contracts import ColorMode, TrainingConfig, channels_of
from tinymlaas.datasets import versions
from tinymlaas.models import Image
from tinymlaas.training import decoded, repository
from tinymlaas.training.preprocess import batch_to_pixels

_LOAD_BATCH = 256


@dataclass
class Split:
    """Pixels (N, H, W, C) uint8, class indices, and the image ids they came from."""

    x: np.ndarray
    y: np.ndarray
    ids: list[int]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class TrainingData:
    classes: list[str]
    train: Split
    validation: Split
    test: Split | None
    validation_source: str  # "validation folder" or "seeded split of train"
    content_sha256: str


def content_hash(rows: Sequence[tuple[int, str, str, str | None]]) -> str:
    """A hash of which bytes carry which label in which split: changes whenever the data does."""
    digest = hashlib.sha256()
    for _, sha, label, split in sorted(rows, key=lambda row: (row[3] or "", row[2], row[1])):
        digest.update(f"{split or ''}\t{label}\t{sha}\n".encode())
    return digest.hexdigest()


def load_training_data(
    session: Session,
    dataset_id: int | None,
    classes: list[str],
    config: TrainingConfig,
    progress: Callable[[float], None] | None = None,
    version_id: int | None = None,
) -> TrainingData:
    """Train/validation(/test) arrays: split folders when present, else a seeded split.

    The images are decoded at the config's input size and colour mode; without a validation
    folder, its validation_split of each class is held out, drawn with its seed. With a
    `version_id`, the images are that dataset version's rows, not the dataset's current ones.
    """
    if version_id is not None:
        labelled = versions.labelled_rows(session, version_id)
    elif dataset_id is not None:
        labelled = repository.labelled_images(session, dataset_id)
    else:
        raise LookupError("neither a dataset nor a dataset version to train on")
    rows = [row for row in labelled if row[2] in classes]
    index = {label: i for i, label in enumerate(classes)}
    by_split: dict[str, list[tuple[int, str, int]]] = {"train": [], "validation": [], "test": []}
    for image_id, sha, label, split in rows:
        by_split[split or "train"].append((image_id, sha, index[label]))
    source = "validation folder"
    if not by_split["validation"]:
        by_split["train"], by_split["validation"] = _stratified_split(
            by_split["train"], config.validation_split, config.seed
        )
        source = "seeded split of train"
    total = sum(len(items) for items in by_split.values()) or 1
    loaded = 0

    def load(items: list[tuple[int, str, int]]) -> Split:
        nonlocal loaded
        split = load_split(
            session, items, config.input_width, config.input_height, config.color_mode
        )
        loaded += len(items)
        if progress:
            progress(loaded / total)
        return split

    train = load(by_split["train"])
    validation = load(by_split["validation"])
    test = load(by_split["test"]) if by_split["test"] else None
    return TrainingData(classes, train, validation, test, source, content_hash(rows))


def load_split(
    session: Session,
    items: Sequence[tuple[int, str, int]],
    width: int,
    height: int,
    color_mode: ColorMode,
) -> Split:
    """Decode (id, sha256, class index) items into arrays, fetching blobs in batches; pixels
    this process decoded before come from its cache (training/decoded.py), read-only."""
    y = np.array([label for _, _, label in items], dtype=np.int32)
    ids = [image_id for image_id, _, _ in items]
    cache = decoded.shared()
    key = cache.key((sha for _, sha, _ in items), width, height, color_mode)
    cached = cache.get(key)
    if cached is not None:
        return Split(cached, y, ids)
    blobs = DatabaseBlobStore(session)
    parts = []
    for start in range(0, len(items), _LOAD_BATCH):
        batch = items[start : start + _LOAD_BATCH]
        contents = blobs.get_many(sha for _, sha, _ in batch)
        parts.append(
            batch_to_pixels((contents[sha] for _, sha, _ in batch), width, height, color_mode)
        )
    empty = (0, height, width, channels_of(color_mode))
    x = np.concatenate(parts) if parts else np.zeros(empty, np.uint8)
    return Split(cache.put(key, x), y, ids)


def load_images(
    session: Session,
    image_ids: Sequence[int],
    classes: list[str],
    width: int,
    height: int,
    color_mode: ColorMode,
    version_id: int | None = None,
) -> Split:
    """The given images (those still present and labelled with a known class) as a Split;
    with a `version_id`, the images of that dataset version (still there, as they were)."""
    index = {label: i for i, label in enumerate(classes)}
    items: list[tuple[int, str, int]] = []
    if version_id is not None:
        wanted = set(image_ids)
        labelled = versions.labelled_rows(session, version_id)
        items = [
            (i, sha, index[label])
            for i, sha, label, _ in labelled
            if i in wanted and label in index
        ]
        return load_split(session, items, width, height, color_mode)
    for start in range(0, len(image_ids), 500):
        rows = session.execute(
            select(Image.id, Image.sha256, Image.label).where(
                Image.id.in_(image_ids[start : start + 500])
            )
        )
        items += [(i, sha, index[label]) for i, sha, label in rows if label in index]
    items.sort()
    return load_split(session, items, width, height, color_mode)


def _stratified_split(
    items: list[tuple[int, str, int]], fraction: float, seed: int
) -> tuple[list[tuple[int, str, int]], list[tuple[int, str, int]]]:
    """Hold out `fraction` of each class (at least one image when a class has two or more)."""
    rng = np.random.default_rng(seed)
    train: list[tuple[int, str, int]] = []
    held: list[tuple[int, str, int]] = []
    for label in sorted({item[2] for item in items}):
        members = sorted(item for item in items if item[2] == label)
        order = rng.permutation(len(members))
        count = int(round(len(members) * fraction))
        # Every class with two or more images keeps at least one on each side.
        count = min(max(count, 1), len(members) - 1) if len(members) >= 2 else 0
        held += [members[i] for i in order[:count]]
        train += [members[i] for i in order[count:]]
    return sorted(train), sorted(held)
