"""The one definition of device-side tensor arithmetic: pixels in, scores out.

The virtual devices, the LiteRT/TFLM checks and the generated Arduino sketch must all do exactly
this. Input quantization is computed in float32 (as a microcontroller's `float` does) and rounds
half away from zero (as TFLite's reference kernels do); for the non-negative pixels involved that
is `q = floor(p / scale + 0.5) + zero_point`, clamped to the tensor type's range.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinymlaas.engine import arithmetic

# Integer tensor types a device feeds pixels into; float32 takes the raw 0..255 values.
_INTEGER_TYPES = {"int8": np.int8, "uint8": np.uint8}
FLOAT_TYPE = "float32"


@dataclass(frozen=True)
class TensorInfo:
    """Shape, element type and quantization of a model's input or output tensor."""

    shape: tuple[int, ...]
    dtype: str
    # 0.0 and 0 for float tensors, as TFLite reports them.
    scale: float
    zero_point: int

    @property
    def is_quantized(self) -> bool:
        """Whether values are integers standing for (q - zero_point) * scale."""
        return self.dtype in _INTEGER_TYPES


def describe_input_quantization(info: TensorInfo) -> str:
    """What `quantize_input` does to a pixel for this input tensor, in words (manifest.json)."""
    integer_type = _INTEGER_TYPES.get(info.dtype)
    if not info.is_quantized or integer_type is None:
        return f"none: the {info.dtype} input takes the pixel values as they are"
    limits = np.iinfo(integer_type)
    return (
        f"{info.dtype}: q = clamp(floor(pixel / input.scale + 0.5) + input.zero_point,"
        f" {limits.min}, {limits.max}), computed in float32"
    )


def tensor_info(shape: Any, dtype: Any, scales: Any, zero_points: Any) -> TensorInfo:
    """Build a TensorInfo from the details dictionaries both interpreters return."""
    scale_values = np.asarray(scales, dtype=np.float64).ravel()
    zero_point_values = np.asarray(zero_points, dtype=np.int64).ravel()
    # Per-axis quantization never applies to model inputs/outputs; keep the first value.
    scale = float(scale_values[0]) if scale_values.size else 0.0
    zero_point = int(zero_point_values[0]) if zero_point_values.size else 0
    return TensorInfo(
        shape=tuple(int(size) for size in np.asarray(shape).ravel()),
        dtype=np.dtype(dtype).name,
        scale=scale,
        zero_point=zero_point,
    )


def quantize_input(pixels: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Turn uint8 pixels (N, H, W, C) into what the input tensor takes."""
    if pixels.dtype != np.uint8:
        raise ValueError(f"pixels must be uint8, got {pixels.dtype}")
    expected = info.shape[1:]
    if pixels.ndim != len(info.shape) or pixels.shape[1:] != expected:
        raise ValueError(
            f"pixels must have shape (N, {', '.join(map(str, expected))}), got {pixels.shape}"
        )
    if info.dtype == FLOAT_TYPE:
        return pixels.astype(np.float32)
    integer_type = _INTEGER_TYPES.get(info.dtype)
    if integer_type is None:
        raise ValueError(f"unsupported input tensor type {info.dtype}")
    if info.scale <= 0:
        raise ValueError(f"quantized input tensor has no positive scale ({info.scale})")
    return arithmetic.quantize_pixels(pixels, info.scale, info.zero_point, integer_type)


def dequantize_output(raw: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Turn raw output tensor values into float32 scores: (raw - zero_point) * scale."""
    if info.dtype == FLOAT_TYPE:
        return raw.astype(np.float32)
    if info.dtype not in _INTEGER_TYPES:
        raise ValueError(f"unsupported output tensor type {info.dtype}")
    return (raw.astype(np.float32) - np.float32(info.zero_point)) * np.float32(info.scale)
