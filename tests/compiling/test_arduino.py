import io
import random
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinymlaas.compiling.arduino import LibrarySpec, build_library
from tinymlaas.hardware.boards import get_board
from tinymlaas.hardware.footprint import tensor_arena_bytes
from tinymlaas.hardware.serial_frames import TENSOR, encode_frame
from tinymlaas.hardware.serial_protocol import (
    DeviceError,
    Hello,
    Ping,
    Prediction,
    TensorError,
    TensorResult,
    format_message,
)

needs_gcc = pytest.mark.skipif(
    shutil.which("gcc") is None or shutil.which("g++") is None, reason="gcc/g++ not installed"
)
MODEL = random.Random(3).randbytes(5003)
LABELS = ["cat", "dog, big", "ünïcode 猫", 'quote" ?? back\\slash']
MODEL_ID = "5e" * 32


def build(board_id: str = "nano33ble", **overrides: Any) -> bytes:
    """Return a library zip for a small int8 grayscale model."""
    arguments: dict[str, Any] = {
        "library_name": "FlowerModel",
        "board": get_board(board_id),
        "labels": LABELS,
        "input_width": 96,
        "input_height": 96,
        "channels": 1,
        "input_scale": 1.0,
        "input_zero_point": -128,
        "output_scale": 1 / 256,
        "output_zero_point": -128,
        "int8": True,
        "arena_bytes": 29_776,
        "model_id": MODEL_ID,
    }
    model = overrides.pop("model", MODEL)
    options = {key: overrides.pop(key) for key in ("ops", "url") if key in overrides}
    arguments.update(overrides)
    return build_library(model, LibrarySpec(**arguments), '{"classes": []}', **options)


def extract(library: bytes, directory: Path) -> Path:
    """Unzip the library and return its source folder."""
    zipfile.ZipFile(io.BytesIO(library)).extractall(directory)
    return directory / "FlowerModel" / "src"


def properties(library: bytes) -> dict[str, str]:
    """Return library.properties as a dict."""
    text = zipfile.ZipFile(io.BytesIO(library)).read("FlowerModel/library.properties").decode()
    return dict(line.split("=", 1) for line in text.splitlines())


def test_zip_layout() -> None:
    archive = zipfile.ZipFile(io.BytesIO(build()))

    assert archive.namelist() == [
        "FlowerModel/README.md",
        "FlowerModel/examples/Nano33BLE_Camera/Nano33BLE_Camera.ino",
        "FlowerModel/extras/manifest.json",
        "FlowerModel/library.properties",
        "FlowerModel/src/FlowerModel.h",
        "FlowerModel/src/model_data.cc",
        "FlowerModel/src/model_data.h",
        "FlowerModel/src/tinymlaas_preprocess.h",
        "FlowerModel/src/tinymlaas_protocol.h",
    ]
    assert archive.read("FlowerModel/extras/manifest.json") == b'{"classes": []}'


def test_zip_is_deterministic() -> None:
    first, second = build(), build()

    assert first == second
    assert {info.date_time for info in zipfile.ZipFile(io.BytesIO(first)).infolist()} == {
        (1980, 1, 1, 0, 0, 0)
    }


@pytest.mark.parametrize(
    ("board_id", "architecture", "depends"),
    [
        ("nano33ble", "mbed_nano", "Arduino_TensorFlowLite"),
        ("esp32-eye", "esp32", "TensorFlowLite_ESP32"),
        ("pico", "rp2040", "Arduino_TensorFlowLite"),
    ],
)
def test_library_properties(board_id: str, architecture: str, depends: str) -> None:
    fields = properties(build(board_id))

    assert fields["name"] == "FlowerModel"
    assert fields["version"] == "1.0.0"
    assert fields["author"] == "TinyMLaaS"
    assert fields["category"] == "Data Processing"
    assert fields["architectures"] == architecture
    assert fields["depends"] == depends
    assert fields["url"].startswith("https://")
    assert fields["includes"] == "FlowerModel.h"
    assert "4 classes" in fields["sentence"]
    assert MODEL_ID in fields["paragraph"]


def test_sketches_use_the_board_camera_or_a_marked_stub() -> None:
    def sketch(board_id: str) -> str:
        archive = zipfile.ZipFile(io.BytesIO(build(board_id)))
        [name] = [name for name in archive.namelist() if name.endswith(".ino")]
        return archive.read(name).decode()

    nano, esp, s3, pico = (sketch(b) for b in ("nano33ble", "esp32-eye", "esp32-s3-eye", "pico"))
    assert "#include <Arduino_OV767X.h>" in nano
    assert "Camera.begin(QCIF" in nano
    assert "esp_camera_init" in esp
    assert "config.pin_xclk = 4;" in esp
    assert "config.pin_xclk = 15;" in s3
    assert "STUB" in pico
    assert "#warning" in pico
    for text in (nano, esp, pico):
        assert "Serial.begin(kBaudRate)" in text
        assert "MicroMutableOpResolver<15>" in text
        assert "resolver.AddDepthwiseConv2D();" in text
        assert "micros()" in text
        assert "tml_format_prediction" in text


def test_readme_says_the_sketch_was_not_compiled() -> None:
    readme = zipfile.ZipFile(io.BytesIO(build("pico"))).read("FlowerModel/README.md").decode()

    assert "Not built by TinyMLaaS" in readme
    assert "stubs" in readme
    assert "{{" not in readme


def test_arena_margin() -> None:
    assert tensor_arena_bytes(29_776) == 33_792  # 29,776 * 1.1 + 1,024, rounded up to 16
    assert tensor_arena_bytes(100) % 16 == 0
    with pytest.raises(ValueError, match="positive"):
        tensor_arena_bytes(0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"library_name": "my lib"}, "library name"),
        ({"labels": ["a", "a"]}, "unique"),
        ({"labels": []}, "non-empty"),
        ({"channels": 2}, "channels"),
        ({"input_scale": 0.0}, "scales"),
        ({"model": b""}, "empty"),
        ({"ops": ["CONV_2D", "LSTM"]}, "LSTM"),
        ({"labels": ["x" * 1500, "y" * 1500]}, "exceeds"),
    ],
)
def test_rejects_arguments_that_would_break_the_library(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build(**overrides)


def run(command: list[str], directory: Path) -> bytes:
    """Run a command, failing the test with its output."""
    result = subprocess.run(command, cwd=directory, capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


@needs_gcc
def test_model_array_in_the_zip_compiles_and_equals_the_model(tmp_path: Path) -> None:
    source = extract(build(), tmp_path)
    (source / "dump.cc").write_text(
        '#include <cstdio>\n#include "model_data.h"\n'
        "int main() { std::fwrite(g_model, 1, g_model_len, stdout); }\n"
    )

    run(["g++", "-std=c++17", "-Wall", "-Werror", "model_data.cc", "dump.cc", "-o", "dump"], source)

    assert run([str(source / "dump")], source) == MODEL


PROTOCOL_DRIVER = r"""
#include <stdio.h>
#include "tinymlaas_protocol.h"

static char buffer[4096];

static void show(size_t length) { fwrite(buffer, 1, length, stdout); }

int main(void) {
  static const char *const labels[] = {"cat", "dog, big", "\303\274n\303\257code \347\214\253",
                                       "a;b=c*d%e$f"};
  static const float scores[] = {0.0625f, 0.875f, 0.0625f, 0.0f};
  static const float clamped[] = {1.5f, -0.25f, 0.3f, 0.0f};
  static const int8_t outputs[] = {-128, 0, 127, -1};
  tml_input input = {{0}, 0, 0, 0};
  const char *stream = "noise$TML1,PING*AEDD\r\n$TML1,PING*AEDE\n$TML1,PING*aedd\n";
  int pings = 0;
  show(tml_format_ping(buffer, sizeof buffer));
  show(tml_format_hello(buffer, sizeof buffer, "none", "nano33ble", 96, 96, 1, labels, 4));
  show(tml_format_prediction(buffer, sizeof buffer, 41, labels, scores, 4, 12.5f,
                             "images/dogs, big/0001*.png"));
  show(tml_format_prediction(buffer, sizeof buffer, 4294967295UL, labels, clamped, 4, 0.125f,
                             NULL));
  show(tml_format_error(buffer, sizeof buffer, "camera init failed: 0x20, retrying"));
  printf("short buffer %d\n", (int)tml_format_error(buffer, 10, "too long for ten bytes"));
  for (; *stream; ++stream) pings += tml_input_push(&input, *stream);
  printf("pings %d\n", pings);
  show(tml_format_tensor_result(buffer, sizeof buffer, 4294967295UL, 123456, outputs, 4));
  show(tml_format_tensor_error(buffer, sizeof buffer, 8, "payload checksum mismatch"));
  return 0;
}
"""


@needs_gcc
@pytest.mark.parametrize("compiler", [["gcc", "-std=c99", "-pedantic"], ["g++", "-x", "c++"]])
def test_device_protocol_code_prints_what_the_host_parses(
    compiler: list[str], tmp_path: Path
) -> None:
    source = extract(build(), tmp_path)
    (source / "driver.c").write_text(PROTOCOL_DRIVER)
    run([*compiler, "-Wall", "-Wextra", "-Werror", "driver.c", "-o", "driver"], source)

    output = run([str(source / "driver")], source)

    labels = ("cat", "dog, big", "ünïcode 猫", "a;b=c*d%e$f")
    expected = [
        format_message(Ping()),
        format_message(Hello("none", "nano33ble", labels, (96, 96, 1), 2)),
        format_message(
            Prediction(
                41,
                "dog, big",
                dict(zip(labels, [0.0625, 0.875, 0.0625, 0.0], strict=True)),
                12.5,
                "images/dogs, big/0001*.png",
            )
        ),
        format_message(
            Prediction(
                4294967295,
                "cat",
                dict(zip(labels, [1.5, -0.25, float(np.float32(0.3)), 0.0], strict=True)),
                0.125,
            )
        ),
        format_message(DeviceError("camera init failed: 0x20, retrying")),
        b"short buffer 0\n",
        b"pings 2\n",  # the CRLF line and the lowercase checksum; not the bad checksum
        format_message(TensorResult(4294967295, 123456, (-128, 0, 127, -1))),
        format_message(TensorError(8, "payload checksum mismatch")),
    ]
    assert output.splitlines(keepends=True) == expected


RECEIVER_DRIVER = r"""
#include <stdio.h>
#include "tinymlaas_protocol.h"

int main(void) {
  uint8_t tensor[8];
  tml_receiver rx;
  int c;
  size_t i;
  tml_receiver_begin(&rx, tensor, sizeof tensor);
  while ((c = getchar()) != EOF) {
    switch (tml_receiver_push(&rx, (uint8_t)c)) {
      case TML_EVENT_PING: printf("ping\n"); break;
      case TML_EVENT_BAD_FRAME: printf("bad %lu %s\n", rx.seq, rx.error); break;
      case TML_EVENT_TENSOR:
        printf("tensor %lu", rx.seq);
        for (i = 0; i < rx.length; ++i) printf(" %d", (int)(int8_t)tensor[i]);
        printf("\n");
        break;
      default: break;
    }
  }
  return 0;
}
"""


@needs_gcc
@pytest.mark.parametrize("compiler", [["gcc", "-std=c99", "-pedantic"], ["g++", "-x", "c++"]])
def test_the_board_takes_tensor_frames_and_resynchronises_after_noise(
    compiler: list[str], tmp_path: Path
) -> None:
    source = extract(build(), tmp_path)
    (source / "driver.c").write_text(RECEIVER_DRIVER)
    run([*compiler, "-Wall", "-Wextra", "-Werror", "driver.c", "-o", "driver"], source)
    tensor = bytes([0x80, 0xA5, 0x5A, ord("$"), ord("\n"), 0, 1, 0x7F])
    damaged = bytearray(encode_frame(TENSOR, 2, tensor))
    damaged[15] ^= 0x01
    header_damaged = bytearray(encode_frame(TENSOR, 5, tensor))
    header_damaged[4] ^= 0x10  # its seq: the header's checksum fails, it is skipped silently
    stream = (
        b"\xa5\x00noise" + format_message(Ping())
        + encode_frame(TENSOR, 1, tensor)
        + bytes(damaged)
        + encode_frame(TENSOR, 3, bytes(9))  # larger than the board's 8-byte tensor
        + bytes(header_damaged)
        + encode_frame(TENSOR, 4, tensor)
        + b"\xa5" + format_message(Ping())
    )  # fmt: skip

    result = subprocess.run([str(source / "driver")], input=stream, capture_output=True, check=True)

    values = " ".join(str(value) for value in np.frombuffer(tensor, np.int8))
    assert result.stdout.decode().splitlines() == [
        "ping",
        f"tensor 1 {values}",
        "bad 2 payload checksum mismatch",
        "bad 3 frame exceeds the input tensor",
        f"tensor 4 {values}",
        "ping",
    ]


LIBRARY_DRIVER = r"""
#include <cstdio>
#include "FlowerModel.h"

static char buffer[tinymlaas::kLineBufferBytes];

int main() {
  using namespace tinymlaas;
  float scores[kLabelCount] = {};
  scores[3] = 1.0f;
  size_t hello = tml_format_hello(buffer, sizeof buffer, kModelId, kBoard, kInputWidth,
                                  kInputHeight, kInputChannels, kLabels, kLabelCount);
  std::fwrite(buffer, 1, hello, stdout);
  size_t worst = tml_format_prediction(buffer, sizeof buffer, 4294967295UL, kLabels, scores,
                                       kLabelCount, 4294967.0f, nullptr);
  std::printf("worst fits %d\n", worst > 0);
  std::printf("%zu %zu %d %d %g\n", kTensorArenaBytes, kMeasuredArenaBytes, kInt8,
              kInputZeroPoint, static_cast<double>(kOutputScale));
  return g_model_len == 5003 ? 0 : 1;
}
"""


@needs_gcc
def test_library_header_compiles_and_its_constants_make_the_hello(tmp_path: Path) -> None:
    source = extract(build(), tmp_path)
    (source / "driver.cc").write_text(LIBRARY_DRIVER)
    run(
        ["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", "driver.cc", "model_data.cc"]
        + ["-o", "driver"],
        source,
    )

    lines = run([str(source / "driver")], source).splitlines(keepends=True)

    assert lines[0] == format_message(Hello(MODEL_ID, "nano33ble", tuple(LABELS), (96, 96, 1), 2))
    assert lines[1:] == [b"worst fits 1\n", b"33792 29776 1 -128 0.00390625\n"]


def reference_preprocess(
    pixels: np.ndarray, rgb565: bool, size: tuple[int, int, int], scale: float, zero_point: int
) -> tuple[np.ndarray, np.ndarray]:
    """The documented preprocessing in numpy: returns (int8 input, float input)."""
    width, height, channels = size
    if rgb565:
        value = (pixels[..., 0].astype(np.uint32) << 8) | pixels[..., 1]
        r5, g6, b5 = (value >> 11) & 31, (value >> 5) & 63, value & 31
        rgb = np.stack([(r5 << 3) | (r5 >> 2), (g6 << 2) | (g6 >> 4), (b5 << 3) | (b5 >> 2)], -1)
    else:
        rgb = np.repeat(pixels[..., None].astype(np.uint32), 3, axis=-1)
    frame_height, frame_width = rgb.shape[:2]
    crop_width, crop_height = frame_width, frame_height
    if crop_width * height > crop_height * width:
        crop_width = crop_height * width // height
    else:
        crop_height = crop_width * height // width
    x0, y0 = (frame_width - crop_width) // 2, (frame_height - crop_height) // 2
    ys = y0 + (2 * np.arange(height) + 1) * crop_height // (2 * height)
    xs = x0 + (2 * np.arange(width) + 1) * crop_width // (2 * width)
    sampled = rgb[ys][:, xs]
    if channels == 1:
        r, g, b = sampled[..., 0], sampled[..., 1], sampled[..., 2]
        sampled = ((19595 * r + 38470 * g + 7471 * b + 0x8000) >> 16)[..., None]
    values = sampled.astype(np.float32)
    scaled = (values / np.float32(scale) + np.float32(0.5)).astype(np.int32) + zero_point
    return np.clip(scaled, -128, 127).astype(np.int8), values


PREPROCESS_DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "tinymlaas_preprocess.h"

int main(int argc, char **argv) {
  int frame_width = atoi(argv[1]), frame_height = atoi(argv[2]), rgb565 = atoi(argv[3]);
  int width = atoi(argv[4]), height = atoi(argv[5]), channels = atoi(argv[6]);
  float scale = (float)atof(argv[7]);
  int zero_point = atoi(argv[8]);
  size_t frame_bytes = (size_t)frame_width * frame_height * (rgb565 ? 2 : 1);
  size_t count = (size_t)width * height * channels;
  uint8_t *pixels = malloc(frame_bytes);
  if (argc != 9) return 3;
  int8_t *quantized = malloc(count);
  float *values = malloc(count * sizeof(float));
  tml_frame frame;
  if (fread(pixels, 1, frame_bytes, stdin) != frame_bytes) return 2;
  frame.pixels = pixels;
  frame.width = frame_width;
  frame.height = frame_height;
  frame.rgb565 = rgb565;
  tml_preprocess(&frame, width, height, channels, scale, zero_point, quantized, NULL);
  tml_preprocess(&frame, width, height, channels, scale, zero_point, NULL, values);
  fwrite(quantized, 1, count, stdout);
  fwrite(values, sizeof(float), count, stdout);
  return 0;
}
"""


@needs_gcc
@pytest.mark.parametrize(
    ("frame", "rgb565", "size", "scale", "zero_point"),
    [
        ((176, 144), False, (96, 96, 1), 1.0, -128),
        ((320, 240), True, (64, 48, 3), 0.0123, 5),
        ((320, 240), True, (96, 96, 1), 0.7071, -3),
        ((100, 300), False, (32, 40, 1), 2.5, 0),
    ],
)
def test_device_preprocessing_matches_the_documented_algorithm(
    frame: tuple[int, int],
    rgb565: bool,
    size: tuple[int, int, int],
    scale: float,
    zero_point: int,
    tmp_path: Path,
) -> None:
    source = extract(build(), tmp_path)
    (source / "driver.c").write_text(PREPROCESS_DRIVER)
    run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "driver.c", "-o", "driver"], source)
    frame_width, frame_height = frame
    shape = (frame_height, frame_width, 2) if rgb565 else (frame_height, frame_width)
    pixels = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    arguments = [*map(str, (frame_width, frame_height, int(rgb565), *size, scale, zero_point))]

    result = subprocess.run(
        [str(source / "driver"), *arguments], input=pixels.tobytes(), capture_output=True
    )

    width, height, channels = size
    count = width * height * channels
    expected_int8, expected_float = reference_preprocess(pixels, rgb565, size, scale, zero_point)
    assert result.returncode == 0
    quantized = np.frombuffer(result.stdout[:count], np.int8).reshape(height, width, channels)
    values = np.frombuffer(result.stdout[count:], np.float32).reshape(height, width, channels)
    np.testing.assert_array_equal(quantized, expected_int8)
    np.testing.assert_array_equal(values, expected_float)
