"""Small generated test data: images of each accepted format and zips of them."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image


def image_bytes(
    fmt: str = "PNG", size: tuple[int, int] = (16, 12), color: tuple[int, int, int] = (200, 30, 30)
) -> bytes:
    """A small image encoded in `fmt`; different colours give different bytes."""
    buffer = io.BytesIO()
    mode = "RGB" if fmt != "GIF" else "P"
    image = Image.new("RGB", size, color)
    if mode == "P":
        image = image.convert("P")
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def zip_bytes(entries: Mapping[str, bytes | None]) -> bytes:
    """A zip holding `entries` (a None value makes a directory entry)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            if data is None:
                archive.writestr(zipfile.ZipInfo(name if name.endswith("/") else name + "/"), b"")
            else:
                archive.writestr(name, data)
    return buffer.getvalue()


def labelled_zip(labels: Mapping[str, int], prefix: str = "") -> tuple[bytes, dict[str, bytes]]:
    """A zip with `count` distinct PNGs per label folder; returns it and its {path: bytes}."""
    entries: dict[str, bytes] = {}
    for label_index, (label, count) in enumerate(sorted(labels.items())):
        for index in range(count):
            color = (label_index * 40 % 256, index * 7 % 256, (label_index + index) % 256)
            entries[f"{prefix}{label}/{index:03d}.png"] = image_bytes(color=color)
    return zip_bytes(entries), entries


def pattern_image(kind: int, seed: int, size: int = 24) -> bytes:
    """A noisy PNG whose class shows in grayscale: 0 dark, 1 bright, 2 bright left half…"""
    import numpy as np

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 40, (size, size), dtype=np.int16)
    if kind == 1:
        pixels += 180
    elif kind == 2:
        pixels[:, : size // 2] += 180
    elif kind == 3:
        pixels[: size // 2, :] += 180
    buffer = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype("uint8"), "L").convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


def pattern_dataset_zip(per_class: int = 12, classes: int = 3, splits: bool = False) -> bytes:
    """A zip of `classes` learnable classes (see pattern_image), optionally in split folders."""
    names = ["dark", "bright", "left", "top"][:classes]
    entries: dict[str, bytes | None] = {}
    for kind, name in enumerate(names):
        for index in range(per_class):
            folder = name
            if splits:
                folder = ("validation/" if index % 4 == 0 else "train/") + name
            entries[f"{folder}/{index:03d}.png"] = pattern_image(kind, seed=kind * 1000 + index)
    return zip_bytes(entries)


def compiled_row(
    database: Any, owner_id: int, classes: tuple[str, ...] = ("a", "b"), **overrides: Any
) -> int:
    """A finished compiled model as the compile job leaves it (files point at real blobs)."""
    from tinymlaas.blobs import DatabaseBlobStore
    from tinymlaas.db.session import transaction
    from tinymlaas.models import CompiledFile, CompiledModel, TrainedModel

    with transaction(database.factory) as session:
        model = TrainedModel(
            owner_id=owner_id,
            name="m",
            status="succeeded",
            config={"architecture": "cnn-small", "alpha": 1.0},
            classes=list(classes),
        )
        session.add(model)
        session.flush()
        values = {
            "owner_id": owner_id,
            "model_id": model.id,
            "board": "virtual",
            "quantization": "int8",
            "status": "succeeded",
            "tflite_bytes": 20_000,
            "arena_bytes": 30_000,
            "input": {"shape": [1, 16, 16, 1], "dtype": "int8", "scale": 1.0, "zero_point": -128},
        } | overrides
        compiled = CompiledModel(**values)
        session.add(compiled)
        session.flush()
        store = DatabaseBlobStore(session)
        for name, data in (("model.tflite", b"TFL3-bytes"), ("manifest.json", b'{"classes": []}')):
            blob = store.put(data)
            session.add(
                CompiledFile(
                    compiled_id=compiled.id,
                    name=name,
                    content_type="application/octet-stream",
                    size_bytes=blob.size_bytes,
                    sha256=blob.sha256,
                )
            )
        return compiled.id


def pattern_camera(folder: Path, per_class: int, seed: int) -> Path:
    """What a virtual board's camera sees: new pattern images in dark/, bright/ and left/."""
    for kind, label in enumerate(["dark", "bright", "left"]):
        (folder / label).mkdir(parents=True)
        for index in range(per_class):
            (folder / label / f"{index}.png").write_bytes(pattern_image(kind, seed=seed + index))
    return folder


def device_row(database: Any, owner_id: int, **overrides: Any) -> int:
    """A device an (offline) bridge reported, as the bridge's first report leaves it."""
    from tinymlaas.db.session import transaction
    from tinymlaas.models import Bridge, Device

    with transaction(database.factory) as session:
        bridge = Bridge(owner_id=owner_id, name="bench", token_sha256=f"{owner_id:064d}")
        session.add(bridge)
        session.flush()
        values = {
            "owner_id": owner_id,
            "bridge_id": bridge.id,
            "identity": "SN-1",
            "name": "nano",
            "port": "/dev/ttyACM0",
            "serial_number": "SN-1",
            "board": "virtual",
        } | overrides
        device = Device(**values)
        session.add(device)
        session.flush()
        return device.id
