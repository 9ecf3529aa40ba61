"""Small generated test data: images of each accepted format and zips of them."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping

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
