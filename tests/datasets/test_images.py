import io
import random
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from tinymlaas.datasets.images import ImageInfo, ImageRejected, inspect_image, make_thumbnail

LIMIT = 25_000_000
ACCEPTED_MESSAGE = "not a decodable image (accepted: PNG, JPEG, BMP, GIF, WebP)"


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    """Return `image` saved in `image_format`."""
    output = io.BytesIO()
    image.save(output, format=image_format, **options)
    return output.getvalue()


def noise_image(size: tuple[int, int] = (64, 48), mode: str = "RGB") -> Image.Image:
    """Return an image of random pixels, so encoders cannot shrink it to nothing."""
    generator = random.Random(1234)
    data = generator.randbytes(size[0] * size[1] * Image.getmodebands(mode))
    return Image.frombytes(mode, size, data)


def png_claiming(width: int, height: int) -> bytes:
    """Return a tiny PNG whose header claims `width`×`height` 1-bit pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("image_format", "content_type"),
    [
        ("PNG", "image/png"),
        ("JPEG", "image/jpeg"),
        ("BMP", "image/bmp"),
        ("GIF", "image/gif"),
        ("WEBP", "image/webp"),
    ],
)
def test_accepted_formats_are_identified_by_content(image_format: str, content_type: str) -> None:
    data = encode(noise_image((30, 20)), image_format)
    assert inspect_image(data, LIMIT) == ImageInfo(image_format, 30, 20, content_type)


def test_mpo_from_a_phone_is_reported_as_jpeg() -> None:
    first, second = noise_image((16, 12)), noise_image((16, 12))
    data = encode(first, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    assert inspect_image(data, LIMIT) == ImageInfo("JPEG", 16, 12, "image/jpeg")


def test_text_renamed_to_png_is_rejected() -> None:
    with pytest.raises(ImageRejected) as caught:
        inspect_image(b"hello, I am really a text file\n" * 10, LIMIT)
    assert str(caught.value) == ACCEPTED_MESSAGE


def test_empty_bytes_are_rejected() -> None:
    with pytest.raises(ImageRejected, match="not a decodable image"):
        inspect_image(b"", LIMIT)


def test_tiff_is_rejected_naming_its_format() -> None:
    data = encode(noise_image((8, 8)), "TIFF")
    with pytest.raises(ImageRejected) as caught:
        inspect_image(data, LIMIT)
    assert str(caught.value) == "format TIFF is not accepted (accepted: PNG, JPEG, BMP, GIF, WebP)"


@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
def test_truncated_image_is_rejected(image_format: str) -> None:
    data = encode(noise_image((128, 128)), image_format)
    truncated = data[: len(data) // 2]
    with pytest.raises(ImageRejected) as caught:
        inspect_image(truncated, LIMIT)
    assert str(caught.value) == f"truncated or corrupt {image_format} image"


def test_corrupt_png_data_is_rejected() -> None:
    data = bytearray(encode(noise_image((64, 64)), "PNG"))
    start = data.index(b"IDAT") + 8
    data[start : start + 64] = bytes(64)
    with pytest.raises(ImageRejected, match="truncated or corrupt PNG image"):
        inspect_image(bytes(data), LIMIT)


def test_pixel_limit_is_checked_from_the_header_before_decoding() -> None:
    data = png_claiming(6000, 6000)
    started = time.perf_counter()
    with pytest.raises(ImageRejected) as caught:
        inspect_image(data, LIMIT)
    assert time.perf_counter() - started < 0.5
    assert str(caught.value) == (
        "image is 6000×6000 = 36,000,000 pixels, over the limit of 25,000,000"
    )


def test_decompression_bomb_beyond_pillow_limit_is_rejected_fast() -> None:
    data = png_claiming(30000, 30000)
    assert len(data) < 200
    started = time.perf_counter()
    with pytest.raises(ImageRejected, match="image is too large: over the limit of 25,000,000"):
        inspect_image(data, LIMIT)
    assert time.perf_counter() - started < 0.5


def test_pixel_limit_is_inclusive() -> None:
    data = encode(noise_image((100, 50)), "PNG")
    assert inspect_image(data, 5000).width == 100
    with pytest.raises(ImageRejected, match="100×50 = 5,000 pixels, over the limit of 4,999"):
        inspect_image(data, 4999)


def test_inspect_image_is_safe_from_many_threads() -> None:
    good = encode(noise_image((40, 30)), "PNG")
    truncated = encode(noise_image((128, 128)), "JPEG")[:2000]
    inputs = [good, truncated, b"junk"] * 40

    def outcome(data: bytes) -> str:
        try:
            return inspect_image(data, LIMIT).format
        except ImageRejected as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(outcome, inputs))
    assert results == ["PNG", "truncated or corrupt JPEG image", ACCEPTED_MESSAGE] * 40


def open_thumbnail(data: bytes) -> Image.Image:
    """Decode a thumbnail and check it is a JPEG."""
    thumbnail = Image.open(io.BytesIO(data))
    thumbnail.load()
    assert thumbnail.format == "JPEG"
    return thumbnail


def test_thumbnail_keeps_aspect_and_fits_max_side() -> None:
    data = encode(noise_image((400, 200)), "PNG")
    thumbnail = open_thumbnail(make_thumbnail(data, max_side=160))
    assert thumbnail.size == (160, 80)
    assert thumbnail.mode == "RGB"


def test_thumbnail_does_not_upscale_small_images() -> None:
    thumbnail = open_thumbnail(make_thumbnail(encode(noise_image((20, 10)), "BMP")))
    assert thumbnail.size == (20, 10)


def test_thumbnail_of_rgba_png_composites_alpha_on_white() -> None:
    image = Image.new("RGBA", (300, 300), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (0, 0, 150, 300))
    thumbnail = open_thumbnail(make_thumbnail(encode(image, "PNG"), max_side=100))
    assert thumbnail.size == (100, 100)
    red, green, blue = thumbnail.getpixel((90, 50))  # type: ignore[misc]
    assert min(red, green, blue) > 240  # transparent red became white, not red
    red, green, blue = thumbnail.getpixel((10, 50))  # type: ignore[misc]
    assert blue > 200
    assert red < 50


def test_thumbnail_of_palette_gif_with_transparency_uses_first_frame() -> None:
    first = Image.new("P", (200, 100), 0)
    first.putpalette([0, 255, 0, 255, 0, 0] + [0] * 762)
    first.paste(1, (100, 0, 200, 100))
    second = Image.new("P", (200, 100), 1)
    second.putpalette(first.getpalette() or [])
    data = encode(first, "GIF", save_all=True, append_images=[second], transparency=1)
    thumbnail = open_thumbnail(make_thumbnail(data, max_side=50))
    assert thumbnail.size == (50, 25)
    red, green, blue = thumbnail.getpixel((5, 12))  # type: ignore[misc]
    assert green > 200
    assert red < 50  # the first frame's green, not the second frame
    assert min(thumbnail.getpixel((45, 12))) > 240  # type: ignore[arg-type]


@pytest.mark.parametrize("image_format", ["PNG", "GIF", "BMP"])
def test_thumbnail_of_opaque_palette_image_keeps_its_colours(image_format: str) -> None:
    image = Image.new("P", (40, 40), 0)
    image.putpalette([250, 200, 0] + [0] * 765)
    thumbnail = open_thumbnail(make_thumbnail(encode(image, image_format), max_side=20))
    assert thumbnail.mode == "RGB"
    red, green, blue = thumbnail.getpixel((10, 10))  # type: ignore[misc]
    assert red > 230
    assert 180 < green < 220
    assert blue < 30


def test_thumbnail_of_16_bit_png_keeps_mid_grey() -> None:
    image = Image.new("I;16", (64, 32), 32768)
    data = encode(image, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    thumbnail = open_thumbnail(make_thumbnail(data, max_side=32))
    assert thumbnail.size == (32, 16)
    assert thumbnail.mode == "L"
    assert 120 <= thumbnail.getpixel((10, 10)) <= 136  # type: ignore[operator]


@pytest.mark.parametrize("mode", ["L", "LA", "1"])
def test_thumbnail_of_grayscale_is_grayscale(mode: str) -> None:
    image = Image.new(mode, (90, 300), 0)
    thumbnail = open_thumbnail(make_thumbnail(encode(image, "PNG"), max_side=60))
    assert thumbnail.size == (18, 60)
    assert thumbnail.mode == "L"


def test_thumbnail_of_garbage_is_rejected() -> None:
    with pytest.raises(ImageRejected, match="cannot make a thumbnail"):
        make_thumbnail(b"not an image")
