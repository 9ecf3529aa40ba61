"""The one definition of image bytes → model input, shared by training, evaluation and devices.

Pure Pillow + NumPy. It follows the board sketch's preprocessing
(`compiling/sketch_templates/tinymlaas_preprocess.h`) pixel for pixel, so the model trains on
what a device will feed it:

1. Decode the first frame; apply the EXIF orientation (phones store rotated JPEGs); flatten
   transparency onto **white** (as the dataset thumbnails show it); 16-bit grayscale is scaled
   to 8 bits (value / 256), not clipped.
2. Only for images at least four times the target size on both axes (dataset photos, not
   camera frames): shrink by half the largest integer ratio, averaging each factor×factor box
   (what a camera's binning does), so at least twice the target size is left. Nearest-neighbour
   sampling of a much larger image would alias; a board's camera frame (QCIF 176×144 for 96×96
   or smaller inputs down to 45×37) never takes this step, so device and training agree exactly.
3. Center-crop to the target aspect ratio with integer arithmetic: when the source is wider,
   keep `h · W // H` columns from `(w − kept) // 2`; else keep `w · H // W` rows from
   `(h − kept) // 2`.
4. Nearest-neighbour sample: output (x, y) reads crop pixel
   `((2x + 1) · crop_w // (2W), (2y + 1) · crop_h // (2H))`.
5. Grayscale is `(19595 R + 38470 G + 7471 B + 32768) >> 16` (ITU-R 601 luma, Pillow's `L`).

The result is uint8 (H, W, C) with C = 1 or 3: the raw 0–255 values the model's Rescaling layer
expects, and what an int8 model's input quantization maps camera bytes from.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from tinymlaas.contracts import COLOR_MODES, ColorMode, channels_of

TRANSPARENCY_BACKGROUND = (255, 255, 255)
# Sources at least this many times the target size on both axes are box-averaged first (step 2).
BOX_REDUCE_MIN_RATIO = 4
# ITU-R 601 luma in 16.16 fixed point (Pillow's "L"); the weights sum to 1 << LUMA_SHIFT.
LUMA_WEIGHTS = (19595, 38470, 7471)
LUMA_SHIFT = 16
# The input range the model takes: raw 8-bit values, rescaled by a layer inside the model.
PIXEL_RANGE = (0, 255)

# Load every format plugin once, so worker threads never race on Pillow's lazy registration.
Image.init()


class UndecodableImage(ValueError):
    """Bytes that Pillow cannot decode as an image."""


def _flatten_alpha(image: Image.Image, mode: str) -> Image.Image:
    """Composite an image with transparency onto the white background, in `mode`."""
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (*TRANSPARENCY_BACKGROUND, 255))
    return Image.alpha_composite(background, rgba).convert(mode)


def _to_mode(image: Image.Image, mode: str) -> Image.Image:
    """Convert any decoded Pillow mode to "L" or "RGB", flattening transparency first."""
    source = image.mode
    if source in ("RGBA", "RGBa", "LA", "La", "PA") or (
        source == "P" and "transparency" in image.info
    ):
        return _flatten_alpha(image, mode)
    if source.startswith("I"):
        # 16-bit grayscale: a plain convert("L") clips everything above 255 to white, so scale.
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    elif source == "P":
        # Through RGB so palette entries get the same luma formula as true-colour images.
        image = image.convert("RGB")
    return image if image.mode == mode else image.convert(mode)


def center_crop_box(
    source_width: int, source_height: int, width: int, height: int
) -> tuple[int, int, int, int]:
    """The (left, top, right, bottom) box of the centered target-aspect crop, as the sketch does."""
    crop_width, crop_height = source_width, source_height
    if crop_width * height > crop_height * width:
        crop_width = max(1, crop_height * width // height)
    else:
        crop_height = max(1, crop_width * height // width)
    left = (source_width - crop_width) // 2
    top = (source_height - crop_height) // 2
    return left, top, left + crop_width, top + crop_height


def sample_frame(rgb: np.ndarray, width: int, height: int, color_mode: ColorMode) -> np.ndarray:
    """Crop and nearest-sample an (h, w, 3) uint8 frame exactly as the board sketch does."""
    left, top, right, bottom = center_crop_box(rgb.shape[1], rgb.shape[0], width, height)
    crop_width, crop_height = right - left, bottom - top
    rows = top + (2 * np.arange(height) + 1) * crop_height // (2 * height)
    columns = left + (2 * np.arange(width) + 1) * crop_width // (2 * width)
    sampled = rgb[rows[:, None], columns[None, :]].astype(np.uint32)
    if color_mode == "rgb":
        return sampled.astype(np.uint8)
    weights = np.array(LUMA_WEIGHTS, dtype=np.uint32)
    gray = ((sampled * weights).sum(axis=-1) + (1 << (LUMA_SHIFT - 1))) >> LUMA_SHIFT
    luma: np.ndarray = gray.astype(np.uint8)[:, :, np.newaxis]
    return luma


def _check_target(width: int, height: int, color_mode: str) -> None:
    if width < 1 or height < 1:
        raise ValueError(f"target size must be positive, got {width}×{height}")
    if color_mode not in COLOR_MODES:
        raise ValueError(f"color_mode must be one of {', '.join(COLOR_MODES)}, got {color_mode!r}")


def to_pixels(data: bytes, width: int, height: int, color_mode: ColorMode) -> np.ndarray:
    """Decode image bytes into the model's uint8 input of shape (height, width, channels)."""
    _check_target(width, height, color_mode)
    try:
        with Image.open(io.BytesIO(data)) as image:
            upright = ImageOps.exif_transpose(image)
            rgb = _to_mode(upright, "RGB")
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        # Pillow reports corrupt or unknown data with any of these; the dataset import has
        # already rejected such files, so this is a stored blob that went bad.
        raise UndecodableImage(f"cannot decode image: {exc}") from exc
    ratio = min(rgb.width // width, rgb.height // height)
    factor = ratio // 2
    if ratio >= BOX_REDUCE_MIN_RATIO:
        rgb = rgb.reduce(factor)
    return sample_frame(np.asarray(rgb, dtype=np.uint8), width, height, color_mode)


def batch_to_pixels(
    images: Iterable[bytes], width: int, height: int, color_mode: ColorMode
) -> np.ndarray:
    """Decode many images into one uint8 array of shape (N, height, width, channels)."""
    _check_target(width, height, color_mode)
    arrays = [to_pixels(data, width, height, color_mode) for data in images]
    if not arrays:
        return np.empty((0, height, width, channels_of(color_mode)), dtype=np.uint8)
    return np.stack(arrays)


@dataclass(frozen=True)
class PreprocessingDescription:
    """The steps above in words, written from the constants the code runs on (manifest.json)."""

    resize: str
    grayscale: str | None
    pixel_range: str


def describe(color_mode: ColorMode) -> PreprocessingDescription:
    """How an image becomes this module's output, for someone feeding the model elsewhere."""
    red, green, blue = LUMA_WEIGHTS
    low, high = PIXEL_RANGE
    return PreprocessingDescription(
        resize=(
            "center-crop to the input's aspect ratio (integer arithmetic), then nearest-neighbour"
            " sampling, no interpolation: output (x, y) reads crop pixel"
            " ((2x + 1) * crop_width // (2 * width), (2y + 1) * crop_height // (2 * height));"
            f" a source at least {BOX_REDUCE_MIN_RATIO}x the input size on both axes is first"
            " shrunk by half the integer size ratio, averaging each factor x factor box"
        ),
        grayscale=(
            f"({red} R + {green} G + {blue} B + {1 << (LUMA_SHIFT - 1)}) >> {LUMA_SHIFT}"
            " (ITU-R 601 luma)"
            if color_mode == "grayscale"
            else None
        ),
        pixel_range=f"{low}..{high} (rescaling is a layer inside the model)",
    )
