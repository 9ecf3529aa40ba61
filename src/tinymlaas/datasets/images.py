"""Identify, bound and fully decode uploaded image bytes; never trust the file name."""

import io
from dataclasses import dataclass

from PIL import Image, ImageOps

ACCEPTED_FORMATS: dict[str, str] = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    # Phones write multi-picture JPEGs that Pillow reports as MPO; they are ordinary JPEG files.
    "MPO": "image/jpeg",
    "BMP": "image/bmp",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}
_ACCEPTED_LIST = "PNG, JPEG, BMP, GIF, WebP"
_REPORTED_FORMAT = {"MPO": "JPEG"}
_THUMBNAIL_BACKGROUND = (255, 255, 255)

# Load every format plugin now, once, so worker threads never race on Pillow's lazy registration.
Image.init()


class ImageRejected(ValueError):
    """Bytes that are not an accepted, decodable image within the limits."""


@dataclass(frozen=True)
class ImageInfo:
    """What an accepted image is, as decoded (not as named)."""

    format: str
    width: int
    height: int
    content_type: str


def _effective_pixel_limit(max_pixels: int) -> int:
    """Return the pixel limit actually enforced, given Pillow's own decompression-bomb error."""
    if Image.MAX_IMAGE_PIXELS is None:
        return max_pixels
    return min(max_pixels, 2 * Image.MAX_IMAGE_PIXELS)


def inspect_image(data: bytes, max_pixels: int) -> ImageInfo:
    """Identify and fully decode `data`, or raise ImageRejected with a reason a user understands.

    Dimensions are checked from the header before any pixel data is decoded. Safe to call from
    many threads: it reads, but never changes, Pillow's global settings.
    """
    try:
        image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refuses (or, under -W error, warns about) huge headers before we see the size.
        limit = _effective_pixel_limit(max_pixels)
        raise ImageRejected(f"image is too large: over the limit of {limit:,} pixels") from exc
    except Exception as exc:
        # Any parser failure on untrusted bytes means "not an image"; Pillow raises many types.
        raise ImageRejected(f"not a decodable image (accepted: {_ACCEPTED_LIST})") from exc
    with image:
        pillow_format = image.format or "unknown"
        if pillow_format not in ACCEPTED_FORMATS:
            raise ImageRejected(
                f"format {pillow_format} is not accepted (accepted: {_ACCEPTED_LIST})"
            )
        reported_format = _REPORTED_FORMAT.get(pillow_format, pillow_format)
        width, height = image.size
        if width <= 0 or height <= 0:
            raise ImageRejected(f"{reported_format} image has no pixels ({width}×{height})")
        pixels = width * height
        if pixels > max_pixels:
            raise ImageRejected(
                f"image is {width}×{height} = {pixels:,} pixels, over the limit of {max_pixels:,}"
            )
        try:
            image.load()
        except Exception as exc:
            raise ImageRejected(f"truncated or corrupt {reported_format} image") from exc
    return ImageInfo(
        format=reported_format,
        width=width,
        height=height,
        content_type=ACCEPTED_FORMATS[pillow_format],
    )


def _flatten_alpha(image: Image.Image, mode: str) -> Image.Image:
    """Composite an image with alpha onto white and return it in `mode` ("RGB" or "L")."""
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (*_THUMBNAIL_BACKGROUND, 255))
    return Image.alpha_composite(background, rgba).convert(mode)


def _to_jpeg_mode(image: Image.Image) -> Image.Image:
    """Convert any decoded mode to "RGB" or "L", the two modes JPEG stores faithfully."""
    mode = image.mode
    if mode in ("RGB", "L"):
        return image
    if mode == "P":
        if "transparency" in image.info:
            return _flatten_alpha(image, "RGB")
        return image.convert("RGB")
    if mode in ("RGBA", "RGBa", "PA"):
        return _flatten_alpha(image, "RGB")
    if mode in ("LA", "La"):
        return _flatten_alpha(image, "L")
    if mode == "1":
        return image.convert("L")
    if mode.startswith("I"):
        # 16-bit grayscale: a plain convert("L") clips everything above 255 to white, so scale.
        return image.convert("I").point(lambda value: value / 256).convert("L")
    return image.convert("RGB")


def make_thumbnail(data: bytes, max_side: int = 160) -> bytes:
    """Return a JPEG thumbnail of the first frame, aspect kept, no side over `max_side`.

    Call `inspect_image` first: this decodes the image and bounds only by Pillow's own limits.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    try:
        with Image.open(io.BytesIO(data)) as image:
            # Let JPEG decode at a reduced scale so big photos stay cheap; a no-op for others.
            image.draft(None, (2 * max_side, 2 * max_side))
            # Convert before resizing: palette and 1-bit images would otherwise resize unsmoothed.
            converted = _to_jpeg_mode(ImageOps.exif_transpose(image))
            converted.thumbnail((max_side, max_side))
            output = io.BytesIO()
            converted.save(output, format="JPEG", quality=85)
    except Exception as exc:
        raise ImageRejected(f"cannot make a thumbnail: not a decodable image ({exc})") from exc
    return output.getvalue()
