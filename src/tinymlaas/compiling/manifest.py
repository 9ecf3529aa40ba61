"""The manifest of a compiled model: what produced it and how a device must feed it (pure)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from tinymlaas import __version__
from tinymlaas.compiling.quantize import TensorInfo

MANIFEST_VERSION = 1
PREPROCESSING = {
    "resize": "center-crop to the input's aspect ratio, then bilinear resize",
    "pixel_range": "0..255 (rescaling is a layer inside the model)",
    "quantize": "q = clamp(floor(pixel / input.scale + 0.5) + input.zero_point, -128, 127)",
}


def tensor_dict(info: TensorInfo) -> dict[str, Any]:
    return {
        "shape": list(info.shape),
        "dtype": info.dtype,
        "scale": info.scale,
        "zero_point": info.zero_point,
    }


def build_manifest(
    *,
    created_at: datetime,
    compiled_id: int,
    board: str,
    quantization: str,
    model: dict[str, Any],
    dataset: dict[str, Any],
    classes: list[str],
    color_mode: str,
    input_info: TensorInfo,
    output_info: TensorInfo,
    arena_bytes: int,
    versions: dict[str, str],
    files: dict[str, bytes],
) -> str:
    """JSON text; the sha256 of this text is the model id devices announce in HELLO."""
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "created_at": created_at.isoformat(),
        "compiled_id": compiled_id,
        "board": board,
        "quantization": quantization,
        "model": model,
        "dataset": dataset,
        "classes": classes,
        "preprocessing": {**PREPROCESSING, "color_mode": color_mode},
        "input": tensor_dict(input_info),
        "output": tensor_dict(output_info),
        "tensor_arena_bytes_measured": arena_bytes,
        "versions": {"tinymlaas": __version__, **versions},
        "files": {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data)}
            for name, data in sorted(files.items())
        },
    }
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"
