"""arduino_library.zip for engine "c": the library sources and the example sketch build for a
Cortex-M4F with arm-none-eabi-gcc against a stand-in for the Arduino API and link without any
TFLite-Micro symbol; on the host, the same sketch prints the prediction of the generated C."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tinymlaas.compiling.arduino import LibrarySpec
from tinymlaas.compiling.arduino_c import build_c_arduino_library
from tinymlaas.engine import codegen, host
from tinymlaas.hardware.boards import get_board
from tinymlaas.hardware.serial_frames import (
    GRAY8,
    TENSOR,
    BinaryFrame,
    CameraFrame,
    StreamReader,
    encode_frame,
)
from tinymlaas.hardware.serial_protocol import (
    Capture,
    Hello,
    LastFrame,
    Ping,
    Prediction,
    TensorError,
    TensorResult,
    format_message,
    parse_line,
)

from support.engine_models import build_int8_model

# Converting the model imports TensorFlow (a few seconds).
pytestmark = pytest.mark.slow
needs_arm_gcc = pytest.mark.skipif(
    shutil.which("arm-none-eabi-g++") is None, reason="arm-none-eabi-gcc not installed"
)
NAME = "TinyMLaaS_flowers_7"
LABELS = ["top", "left", "dark"]
MODEL_ID = "c0" * 32
SIZE = 32
CORTEX_M4F = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
WARNINGS = ["-O2", "-Wall", "-Wextra", "-Werror"]
# Like the Arduino builder: .c files as C, the sketch as C++ without exceptions or RTTI.
C_FLAGS = ["-std=c99", *WARNINGS]
CXX_FLAGS = ["-std=gnu++17", "-fno-exceptions", "-fno-rtti", *WARNINGS]

# The Arduino API the sketch uses, declared as the cores declare it.
ARDUINO_H = r"""#ifndef ARDUINO_H_STANDIN
#define ARDUINO_H_STANDIN
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define OUTPUT 1
class HardwareSerial {
 public:
  void begin(unsigned long baud);
  int available();
  int read();
  size_t write(const uint8_t* data, size_t size);
  size_t print(const char* text);
  size_t println(const char* text);
};
extern HardwareSerial Serial;
unsigned long millis();
unsigned long micros();
void delay(unsigned long ms);
void pinMode(uint8_t pin, uint8_t mode);
void setup();
void loop();
#endif
"""
# Arduino_OV767X's interface (the Nano 33 BLE sketch's camera library).
OV767X_H = r"""#ifndef ARDUINO_OV767X_STANDIN
#define ARDUINO_OV767X_STANDIN
enum { OV7670 = 0, OV7675 = 1 };
enum { VGA = 0, CIF = 1, QVGA = 2, QCIF = 3 };
enum { YUV422 = 0, RGB444 = 1, RGB565 = 2, GRAYSCALE = 4 };
class OV767X {
 public:
  int begin(int resolution, int format, int fps, int camera = OV7670);
  void readFrame(void* buffer);
  int width() const;
  int height() const;
};
extern OV767X Camera;
#endif
"""
# The stand-ins' behaviour: a PING waiting on serial, a 1 ms inference, a QCIF gradient frame.
STANDIN_CPP = r"""#include <Arduino.h>
#include <Arduino_OV767X.h>

#include "serial_input.h"

HardwareSerial Serial;
OV767X Camera;
static size_t input_read = 0;
static unsigned long now_us = 0;

void HardwareSerial::begin(unsigned long baud) { (void)baud; }
int HardwareSerial::available() { return (int)(sizeof kSerialInput - input_read); }
int HardwareSerial::read() {
  return input_read < sizeof kSerialInput ? kSerialInput[input_read++] : -1;
}
size_t HardwareSerial::write(const uint8_t* data, size_t size) {
  return fwrite(data, 1, size, stdout);
}
size_t HardwareSerial::print(const char* text) {
  return fputs(text, stdout) < 0 ? 0 : strlen(text);
}
size_t HardwareSerial::println(const char* text) { return print(text) + print("\r\n"); }
unsigned long millis() { return now_us / 1000; }
unsigned long micros() { return now_us += 1000; }
void delay(unsigned long ms) { now_us += ms * 1000; }
void pinMode(uint8_t pin, uint8_t mode) { (void)pin; (void)mode; }

int OV767X::begin(int resolution, int format, int fps, int camera) {
  return resolution == QCIF && format == GRAYSCALE && fps == 1 && camera == OV7675;
}
void OV767X::readFrame(void* buffer) {
  uint8_t* pixels = static_cast<uint8_t*>(buffer);
  for (int y = 0; y < height(); ++y) {
    for (int x = 0; x < width(); ++x) pixels[y * width() + x] = (uint8_t)((3 * x + 5 * y) & 0xFF);
  }
}
int OV767X::width() const { return 176; }
int OV767X::height() const { return 144; }

int main() {
  setup();
  for (int i = 0; i < kLoops; ++i) loop();
  return 0;
}
"""
# What the host sends the stand-in board, and how many times loop() runs.
SERIAL_INPUT = (
    "static const unsigned char kSerialInput[] = {{{bytes}}};\nstatic const int kLoops = {loops};\n"
)


def serial_input(data: bytes, loops: int) -> str:
    return SERIAL_INPUT.format(bytes=", ".join(str(byte) for byte in data), loops=loops)


@pytest.fixture(scope="module")
def library() -> codegen.GeneratedLibrary:
    """cnn-small α0.5 at 32×32 grayscale, int8, generated as C."""
    return codegen.generate(build_int8_model("cnn-small", 0.5, SIZE, 1))


def build(library: codegen.GeneratedLibrary, board: str = "nano33ble") -> bytes:
    source, target = library.input_quantization, library.output_quantization
    spec = LibrarySpec(
        library_name=NAME,
        board=get_board(board),
        labels=LABELS,
        input_width=SIZE,
        input_height=SIZE,
        channels=1,
        input_scale=source.scale,
        input_zero_point=source.zero_point,
        output_scale=target.scale,
        output_zero_point=target.zero_point,
        int8=True,
        arena_bytes=12_345,
        model_id=MODEL_ID,
    )
    return build_c_arduino_library(library, spec, '{"engine": "c"}')


def unpack(library: codegen.GeneratedLibrary, directory: Path) -> Path:
    """Unzip the library, add the Arduino stand-ins and the sketch as a .cpp; return the root."""
    zipfile.ZipFile(io.BytesIO(build(library))).extractall(directory)
    root = directory / NAME
    standin = directory / "standin"
    standin.mkdir()
    (standin / "Arduino.h").write_text(ARDUINO_H)
    (standin / "Arduino_OV767X.h").write_text(OV767X_H)
    (standin / "standin.cpp").write_text(STANDIN_CPP)
    (standin / "serial_input.h").write_text(serial_input(format_message(Ping()), 1))
    sketch = (root / "examples/Nano33BLE_Camera/Nano33BLE_Camera.ino").read_text()
    (standin / "sketch.cpp").write_text("#include <Arduino.h>\n" + sketch)
    return root


def run(command: list[str], directory: Path) -> str:
    result = subprocess.run(command, cwd=directory, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def compile_all(root: Path, cc: list[str], cxx: list[str]) -> list[str]:
    """Compile every library source (C) and the sketch with the stand-ins (C++); the objects."""
    source, standin = root / "src", root.parent / "standin"
    objects = []
    for path in sorted(source.glob("*.c")):
        objects.append(str(root.parent / f"{path.stem}.o"))
        run([*cc, *C_FLAGS, "-c", str(path), "-o", objects[-1]], root)
    for path in (standin / "sketch.cpp", standin / "standin.cpp"):
        objects.append(str(root.parent / f"{path.stem}.o"))
        run([*cxx, *CXX_FLAGS, f"-I{standin}", f"-I{source}", "-c", str(path), "-o", objects[-1]],
            root)  # fmt: skip
    return objects


def test_the_library_holds_the_generated_c_and_needs_no_tflite_micro(
    library: codegen.GeneratedLibrary,
) -> None:
    archive = zipfile.ZipFile(io.BytesIO(build(library)))
    names = set(archive.namelist())
    assert {f"{NAME}/src/{name}" for name in library.files} <= names
    assert {
        f"{NAME}/src/{NAME}.h",
        f"{NAME}/src/tinymlaas_protocol.h",
        f"{NAME}/src/tinymlaas_preprocess.h",
        f"{NAME}/examples/Nano33BLE_Camera/Nano33BLE_Camera.ino",
        f"{NAME}/library.properties",
        f"{NAME}/README.md",
        f"{NAME}/extras/manifest.json",
    } <= names
    assert not any(name.endswith(".cc") for name in names)
    properties = archive.read(f"{NAME}/library.properties").decode()
    assert "depends=" not in properties
    assert "architectures=mbed_nano" in properties
    texts = [archive.read(name).decode() for name in names if "/src/tml_" not in name]
    for text in texts:
        assert "{{" not in text
    sketch = archive.read(f"{NAME}/examples/Nano33BLE_Camera/Nano33BLE_Camera.ino").decode()
    assert "tml_invoke(model_input, model_output)" in sketch
    assert "tflite" not in sketch.lower()
    assert "TensorFlowLite" not in sketch
    assert "Camera.begin(QCIF" in sketch
    assert "tensor_arena" not in sketch
    readme = archive.read(f"{NAME}/README.md").decode()
    assert "needs no other library" in readme
    assert MODEL_ID in readme
    assert build(library) == build(library)


def test_other_boards_get_their_camera_and_a_stub_elsewhere(
    library: codegen.GeneratedLibrary,
) -> None:
    def sketch(board: str) -> str:
        archive = zipfile.ZipFile(io.BytesIO(build(library, board)))
        [name] = [name for name in archive.namelist() if name.endswith(".ino")]
        return archive.read(name).decode()

    esp, pico = sketch("esp32-eye"), sketch("pico")
    assert "esp_camera_init" in esp
    assert "heap_caps_aligned_alloc" not in esp
    assert "STUB" in pico
    assert "tml_invoke" in pico


@needs_arm_gcc
def test_library_and_sketch_build_for_cortex_m4f_and_link_without_tflite_micro(
    library: codegen.GeneratedLibrary, tmp_path: Path
) -> None:
    root = unpack(library, tmp_path)
    objects = compile_all(
        root, ["arm-none-eabi-gcc", *CORTEX_M4F], ["arm-none-eabi-g++", *CORTEX_M4F]
    )
    assert len(objects) == len([n for n in library.files if n.endswith(".c")]) + 2

    run(["arm-none-eabi-g++", *CORTEX_M4F, "--specs=nosys.specs", *objects, "-o", "sketch.elf"],
        tmp_path)  # fmt: skip

    symbols = run(["arm-none-eabi-nm", "-C", "sketch.elf"], tmp_path)
    assert " T tml_invoke" in symbols
    assert " T setup()" in symbols
    assert " T loop()" in symbols
    assert "tflite" not in symbols.lower()
    attributes = run(["arm-none-eabi-readelf", "-A", "sketch.elf"], tmp_path)
    assert "Tag_CPU_arch: v7E-M" in attributes
    assert "Tag_ABI_VFP_args: VFP registers" in attributes


def expected_input(library: codegen.GeneratedLibrary) -> np.ndarray:
    """The stand-in camera's frame as the documented preprocessing makes it: QCIF center-cropped
    to 144×144, nearest-neighbour sampled to 32×32, quantized in float32."""
    y, x = np.mgrid[0:144, 0:176]
    frame = ((3 * x + 5 * y) & 0xFF).astype(np.float32)
    rows = (2 * np.arange(SIZE) + 1) * 144 // (2 * SIZE)
    columns = 16 + rows
    sampled = frame[rows][:, columns]
    quantization = library.input_quantization
    scaled = (sampled / np.float32(quantization.scale) + np.float32(0.5)).astype(np.int32)
    return np.clip(scaled + quantization.zero_point, -128, 127).astype(np.int8)


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
def test_on_the_host_the_sketch_prints_the_hello_and_the_generated_c_prediction(
    library: codegen.GeneratedLibrary, tmp_path: Path
) -> None:
    root = unpack(library, tmp_path)
    objects = compile_all(root, ["gcc"], ["g++"])
    run(["g++", *objects, "-o", "sketch"], tmp_path)

    lines = run(["./sketch"], tmp_path).encode().splitlines(keepends=True)

    hello = format_message(Hello(MODEL_ID, "nano33ble", tuple(LABELS), (SIZE, SIZE, 1), 2))
    assert lines[:2] == [hello, hello]  # setup, then the answer to the PING
    with host.load(library) as model:
        raw = model.invoke(expected_input(library).reshape(-1)).reshape(-1)
    target = library.output_quantization
    scores = (raw.astype(np.float32) - np.float32(target.zero_point)) * np.float32(target.scale)
    prediction = parse_line(lines[2])
    assert isinstance(prediction, Prediction)
    assert prediction.seq == 0
    assert prediction.latency_ms == 1.0
    assert prediction.label == LABELS[int(np.argmax(scores))]
    assert list(prediction.scores.values()) == pytest.approx(scores.tolist(), abs=5e-5)
    assert len(lines) == 3


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
def test_on_the_host_the_sketch_answers_tensor_frames_and_pauses_its_camera(
    library: codegen.GeneratedLibrary, tmp_path: Path
) -> None:
    root = unpack(library, tmp_path)
    tensors = np.random.default_rng(4).integers(-128, 128, (2, SIZE * SIZE), dtype=np.int8)
    damaged = bytearray(encode_frame(TENSOR, 8, tensors[1].tobytes()))
    damaged[100] ^= 0xFF
    sent = (
        format_message(Ping())
        + encode_frame(TENSOR, 7, tensors[0].tobytes())
        + bytes(damaged)
        + encode_frame(TENSOR, 8, tensors[1].tobytes())
    )
    (root.parent / "standin" / "serial_input.h").write_text(serial_input(sent, 3))
    objects = compile_all(root, ["gcc"], ["g++"])
    run(["g++", *objects, "-o", "sketch"], tmp_path)

    lines = run(["./sketch"], tmp_path).encode().splitlines(keepends=True)

    with host.load(library) as model:
        raw = [tuple(int(v) for v in model.invoke(tensor).reshape(-1)) for tensor in tensors]
    # No PRED: while a host drives the board, its camera loop waits.
    assert [parse_line(line) for line in lines[1:]] == [
        Hello(MODEL_ID, "nano33ble", tuple(LABELS), (SIZE, SIZE, 1), 2),
        TensorResult(7, 1000, raw[0]),
        TensorError(8, "payload checksum mismatch"),
        TensorResult(8, 1000, raw[1]),
    ]


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
def test_on_the_host_the_sketch_sends_camera_frames_and_its_last_input(
    library: codegen.GeneratedLibrary, tmp_path: Path
) -> None:
    root = unpack(library, tmp_path)
    tensor = np.random.default_rng(5).integers(-128, 128, SIZE * SIZE, dtype=np.int8)
    sent = (
        format_message(LastFrame(1))  # nothing inferred yet: refused
        + encode_frame(TENSOR, 2, tensor.tobytes())
        + format_message(LastFrame(3))
        + format_message(Capture(4))
    )
    (root.parent / "standin" / "serial_input.h").write_text(serial_input(sent, 2))
    objects = compile_all(root, ["gcc"], ["g++"])
    run(["g++", *objects, "-o", "sketch"], tmp_path)

    output = subprocess.run(["./sketch"], cwd=tmp_path, capture_output=True, check=True).stdout
    items = StreamReader(2**20).feed(output)

    assert TensorError(1, "no inference yet") in items
    frames = {
        item.seq: CameraFrame.decode(item.payload)
        for item in items
        if isinstance(item, BinaryFrame)
    }
    quantization = library.input_quantization
    pixels = np.clip(
        np.floor(
            (tensor.astype(np.float32) - quantization.zero_point) * np.float32(quantization.scale)
            + 0.5
        ),
        0,
        255,
    ).astype(np.uint8)
    assert frames[3] == CameraFrame(SIZE, SIZE, GRAY8, pixels.tobytes())
    y, x = np.mgrid[0:144, 0:176]
    assert frames[4] == CameraFrame(
        176, 144, GRAY8, ((3 * x + 5 * y) & 0xFF).astype(np.uint8).tobytes()
    )
