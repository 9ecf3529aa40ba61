"""What a virtual board's camera sends when a host asks for a frame (CAPTURE, LAST)."""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from tinymlaas.hardware.serial_frames import RGB888, CameraFrame

# A camera's resolution is fixed; a virtual camera's images may be photos of any size, so
# larger ones are shrunk to fit this box (VGA), as a camera would have taken them.
MAX_WIDTH, MAX_HEIGHT = 640, 480


def camera_frame(data: bytes) -> CameraFrame:
    """The camera image as an uncompressed RGB frame; ValueError if it cannot be decoded."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            rgb = ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ValueError(f"camera capture failed: {error}") from error
    rgb.thumbnail((MAX_WIDTH, MAX_HEIGHT))
    return CameraFrame(rgb.width, rgb.height, RGB888, rgb.tobytes())
