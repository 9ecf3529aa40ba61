import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tinymlaas.training.preprocess import (
    ColorMode,
    UndecodableImage,
    batch_to_pixels,
    center_crop_box,
    to_pixels,
)

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)


def encode(image: Image.Image, image_format: str = "PNG", **options: object) -> bytes:
    """Return `image` saved in `image_format`."""
    output = io.BytesIO()
    image.save(output, format=image_format, **options)
    return output.getvalue()


def striped(size: tuple[int, int], stripes: list[tuple[int, tuple[int, int, int]]]) -> Image.Image:
    """Return an RGB image of vertical stripes: (first column, colour) pairs, left to right."""
    image = Image.new("RGB", size)
    bounds = [start for start, _ in stripes[1:]] + [size[0]]
    for (start, colour), end in zip(stripes, bounds, strict=True):
        image.paste(colour, (start, 0, end, size[1]))
    return image


def test_wide_image_is_center_cropped_before_resizing() -> None:
    # 200×100: red | green | blue | red; the centered square is columns 50–149 (green | blue).
    image = striped((200, 100), [(0, RED), (50, GREEN), (100, BLUE), (150, RED)])

    pixels = to_pixels(encode(image), 40, 40, "rgb")

    assert pixels.shape == (40, 40, 3)
    assert pixels.dtype == np.uint8
    assert (pixels[:, :19] == GREEN).all()
    assert (pixels[:, 21:] == BLUE).all()
    assert pixels[:, :, 0].max() == 0, "red outer stripes must be cropped away"


def test_tall_image_is_center_cropped_vertically() -> None:
    image = striped((200, 100), [(0, RED), (50, GREEN), (100, BLUE), (150, RED)])
    # Rotated a quarter turn counter-clockwise: 100×200, rows red | blue | green | red.
    tall = image.transpose(Image.Transpose.ROTATE_90)

    pixels = to_pixels(encode(tall), 20, 20, "rgb")

    assert (pixels[:9] == BLUE).all()
    assert (pixels[11:] == GREEN).all()
    assert pixels[:, :, 0].max() == 0


def test_non_square_target_keeps_its_aspect_ratio() -> None:
    # A 100×100 square cropped to 2:1 keeps rows 25–74 of the full width.
    image = Image.new("L", (100, 100), 0)
    image.paste(255, (0, 25, 100, 75))

    pixels = to_pixels(encode(image), 64, 32, "grayscale")

    assert pixels.shape == (32, 64, 1)
    assert (pixels == 255).all()


@pytest.mark.parametrize(
    ("source", "target", "box"),
    [
        ((200, 100), (1, 1), (50, 0, 150, 100)),
        ((100, 200), (1, 1), (0, 50, 100, 150)),
        ((176, 144), (96, 96), (16, 0, 160, 144)),
        ((640, 480), (640, 480), (0, 0, 640, 480)),
        ((101, 100), (1, 1), (0, 0, 100, 100)),
        ((100, 100), (4, 3), (0, 12, 100, 87)),
    ],
)
def test_center_crop_box(
    source: tuple[int, int], target: tuple[int, int], box: tuple[int, int, int, int]
) -> None:
    assert center_crop_box(*source, *target) == box


def test_grayscale_and_rgb_channels() -> None:
    data = encode(Image.new("RGB", (30, 30), RED))

    gray = to_pixels(data, 10, 10, "grayscale")
    rgb = to_pixels(data, 10, 10, "rgb")

    assert gray.shape == (10, 10, 1)
    assert rgb.shape == (10, 10, 3)
    # ITU-R 601-2 luma of pure red: 255 · 299 / 1000 = 76.2.
    assert (gray == 76).all()
    assert (rgb == RED).all()


def test_grayscale_source_is_replicated_for_rgb() -> None:
    data = encode(Image.new("L", (8, 8), 90))

    assert (to_pixels(data, 8, 8, "rgb") == 90).all()


def test_transparency_is_flattened_onto_white() -> None:
    image = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    image.paste((0, 0, 0, 255), (0, 0, 10, 10))

    pixels = to_pixels(encode(image), 20, 10, "grayscale")

    assert (pixels[:, :10] == 0).all()
    assert (pixels[:, 10:] == 255).all()


def test_half_transparent_black_becomes_mid_gray() -> None:
    data = encode(Image.new("LA", (4, 4), (0, 128)))

    assert np.abs(to_pixels(data, 4, 4, "grayscale").astype(int) - 127).max() <= 1


def test_palette_with_transparent_index() -> None:
    image = Image.new("P", (10, 10), 0)
    image.putpalette([0, 0, 255] + [255, 0, 0] + [0, 0, 0] * 254)
    image.paste(1, (5, 0, 10, 10))
    data = encode(image, "PNG", transparency=0)

    pixels = to_pixels(data, 10, 10, "rgb")

    assert (pixels[:, :5] == (255, 255, 255)).all(), "the transparent blue index shows white"
    assert (pixels[:, 5:] == RED).all()


def test_palette_without_transparency_uses_its_colours() -> None:
    image = Image.new("P", (6, 6), 1)
    image.putpalette([0, 0, 0] + list(GREEN) + [0, 0, 0] * 254)

    pixels = to_pixels(encode(image, "GIF"), 6, 6, "grayscale")

    assert (pixels == 150).all()  # luma of pure green: 255 · 587 / 1000 = 149.7


def test_sixteen_bit_grayscale_is_scaled_not_clipped() -> None:
    image = Image.new("I;16", (4, 2))
    image.putdata([65535] * 4 + [32768] * 4)

    pixels = to_pixels(encode(image), 4, 2, "grayscale")

    assert (pixels[0] == 255).all()
    assert (pixels[1] == 128).all()


def test_exif_orientation_is_applied() -> None:
    # Stored 40×20, left half black; orientation 6 means "rotate 90° clockwise to display".
    image = Image.new("L", (40, 20), 255)
    image.paste(0, (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(image, "JPEG", exif=exif.tobytes(), quality=95)

    pixels = to_pixels(data, 20, 40, "grayscale")[:, :, 0]

    assert pixels[:18].max() < 30, "the black half is on top once upright"
    assert pixels[22:].min() > 225


def test_first_frame_of_an_animation() -> None:
    frames = [Image.new("L", (8, 8), 255), Image.new("L", (8, 8), 0)]
    output = io.BytesIO()
    frames[0].save(output, "GIF", save_all=True, append_images=frames[1:], duration=100)

    pixels = to_pixels(output.getvalue(), 8, 8, "grayscale")

    assert (pixels == 255).all()


SKETCH_HEADER = (
    Path(__file__).parents[2] / "src/tinymlaas/compiling/sketch_templates/tinymlaas_preprocess.h"
)


def sketch_preprocess(frame: np.ndarray, width: int, height: int, channels: int) -> np.ndarray:
    """Run the board sketch's C preprocessing (compiled with gcc) on an RGB frame."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    rgb565 = (
        ((frame[..., 0].astype(np.uint16) >> 3) << 11)
        | ((frame[..., 1].astype(np.uint16) >> 2) << 5)
        | (frame[..., 2].astype(np.uint16) >> 3)
    )
    program = f"""
#include <stdio.h>
#include <stdlib.h>
#include "{SKETCH_HEADER}"
int main(void) {{
  static uint8_t pixels[{frame.shape[0] * frame.shape[1] * 2}];
  static float out[{width * height * channels}];
  fread(pixels, 1, sizeof pixels, stdin);
  tml_frame frame = {{pixels, {frame.shape[1]}, {frame.shape[0]}, 1}};
  tml_preprocess(&frame, {width}, {height}, {channels}, 1.0f, 0, NULL, out);
  fwrite(out, sizeof(float), sizeof out / sizeof(float), stdout);
  return 0;
}}
"""
    with tempfile.TemporaryDirectory() as folder:
        source, binary = Path(folder) / "p.c", Path(folder) / "p"
        source.write_text(program)
        subprocess.run(["gcc", "-O1", "-o", str(binary), str(source)], check=True)
        result = subprocess.run(
            [str(binary)], input=rgb565.astype(">u2").tobytes(), capture_output=True, check=True
        )
    values = np.frombuffer(result.stdout, np.float32).reshape(height, width, channels)
    return values.astype(np.uint8)


@pytest.mark.parametrize(
    ("frame_size", "size", "color_mode"),
    [
        ((176, 144), (96, 96), "grayscale"),
        ((176, 144), (64, 48), "rgb"),
        ((90, 60), (36, 25), "grayscale"),
    ],
)
def test_camera_sized_frames_match_the_board_sketch_exactly(
    frame_size: tuple[int, int], size: tuple[int, int], color_mode: ColorMode
) -> None:
    generator = np.random.default_rng(3)
    # RGB565 keeps 5/6/5 bits: build the frame from values it represents exactly.
    frame = generator.integers(0, 256, (frame_size[1], frame_size[0], 3), dtype=np.uint8)
    frame[..., 0] = (frame[..., 0] >> 3) << 3 | frame[..., 0] >> 5
    frame[..., 1] = (frame[..., 1] >> 2) << 2 | frame[..., 1] >> 6
    frame[..., 2] = (frame[..., 2] >> 3) << 3 | frame[..., 2] >> 5
    channels = 1 if color_mode == "grayscale" else 3

    pixels = to_pixels(encode(Image.fromarray(frame)), *size, color_mode)

    np.testing.assert_array_equal(pixels, sketch_preprocess(frame, *size, channels))


def test_large_photos_are_box_averaged_before_sampling() -> None:
    # A fine checkerboard: nearest-neighbour alone would alias it to black or white.
    board = (np.indices((400, 400)).sum(axis=0) % 2 * 255).astype(np.uint8)

    pixels = to_pixels(encode(Image.fromarray(board)), 50, 50, "grayscale")

    assert 120 <= pixels.min() <= pixels.max() <= 135


def test_output_is_deterministic_and_batches_stack_singles() -> None:
    generator = np.random.default_rng(5)
    images = [
        encode(Image.fromarray(generator.integers(0, 256, (48, 64, 3), dtype=np.uint8)), "JPEG")
        for _ in range(5)
    ]

    batch = batch_to_pixels(images, 32, 32, "rgb")

    assert batch.shape == (5, 32, 32, 3)
    assert batch.dtype == np.uint8
    for index, data in enumerate(images):
        np.testing.assert_array_equal(batch[index], to_pixels(data, 32, 32, "rgb"))
    np.testing.assert_array_equal(batch, batch_to_pixels(iter(images), 32, 32, "rgb"))


def test_empty_batch_has_the_model_input_shape() -> None:
    assert batch_to_pixels([], 24, 16, "grayscale").shape == (0, 16, 24, 1)
    assert batch_to_pixels([], 24, 16, "rgb").shape == (0, 16, 24, 3)


def test_undecodable_bytes_are_reported() -> None:
    with pytest.raises(UndecodableImage, match="cannot decode image"):
        to_pixels(b"not an image at all", 8, 8, "rgb")


@pytest.mark.parametrize(
    ("width", "height", "color_mode", "message"),
    [
        (0, 8, "rgb", "target size must be positive, got 0×8"),
        (8, 8, "rgba", "color_mode must be one of grayscale, rgb, got 'rgba'"),
    ],
)
def test_invalid_targets_are_rejected(
    width: int, height: int, color_mode: str, message: str
) -> None:
    data = encode(Image.new("RGB", (4, 4)))

    with pytest.raises(ValueError, match=message):
        to_pixels(data, width, height, color_mode)  # type: ignore[arg-type]


def test_thousands_of_small_images_decode_into_one_batch() -> None:
    # How fast is for bench/training_job_vs_keras.py, not a timed test (it failed under load).
    generator = np.random.default_rng(9)
    sample = [
        encode(Image.fromarray(generator.integers(0, 256, (120, 160, 3), dtype=np.uint8)), "JPEG")
        for _ in range(50)
    ]
    images = sample * 40  # 2,000 decodes

    batch = batch_to_pixels(images, 96, 96, "grayscale")

    assert batch.shape == (2000, 96, 96, 1)
    assert batch.dtype == np.uint8
    assert np.array_equal(batch[:50], batch[50:100]), "the same images decode the same way"
