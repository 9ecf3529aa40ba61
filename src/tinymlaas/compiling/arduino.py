"""Package a compiled model as an Arduino library zip with a camera sketch for its board.

The sketch itself cannot be compiled on the server (no TFLite-Micro sources or Arduino cores
are installable here); its protocol and preprocessing code live in plain C headers so the
tests compile and check them with gcc.
"""

import io
import math
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources

from tinymlaas.compiling.c_array import HEADER_NAME, SOURCE_NAME, to_c_array
from tinymlaas.hardware.boards import Board
from tinymlaas.hardware.footprint import tensor_arena_bytes
from tinymlaas.hardware.serial_protocol import (
    DeviceError,
    Hello,
    Prediction,
    encode_text,
    format_message,
)

LIBRARY_VERSION = "1.0.0"
DEFAULT_URL = "https://github.com/TinyMLaas/TinyMLaaS"
PROTOCOL_HEADER = "tinymlaas_protocol.h"
PREPROCESS_HEADER = "tinymlaas_preprocess.h"
# Operators a CNN or MobileNet converted by TinyMLaaS may use (TFLite builtin names). MUL and
# ADD cover the Rescaling layer; extra operators cost only flash.
DEFAULT_OPS = (
    "ADD",
    "AVERAGE_POOL_2D",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "DEQUANTIZE",
    "FULLY_CONNECTED",
    "MAX_POOL_2D",
    "MEAN",
    "MUL",
    "PAD",
    "QUANTIZE",
    "RELU",
    "RELU6",
    "RESHAPE",
    "SOFTMAX",
)
_RESOLVER_METHODS = {
    "ADD": "AddAdd",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "DEQUANTIZE": "AddDequantize",
    "FULLY_CONNECTED": "AddFullyConnected",
    "HARD_SWISH": "AddHardSwish",
    "LOGISTIC": "AddLogistic",
    "MAX_POOL_2D": "AddMaxPool2D",
    "MEAN": "AddMean",
    "MUL": "AddMul",
    "PACK": "AddPack",
    "PAD": "AddPad",
    "QUANTIZE": "AddQuantize",
    "RELU": "AddRelu",
    "RELU6": "AddRelu6",
    "RESHAPE": "AddReshape",
    "SHAPE": "AddShape",
    "SOFTMAX": "AddSoftmax",
    "STRIDED_SLICE": "AddStridedSlice",
    "SUB": "AddSub",
}
# Arduino library names allow more, but this one also names a folder and a C++ header.
_LIBRARY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_CODE_MARKER = "// ==== code ====\n"
# The longest unsigned long a 32-bit board counts to, and micros() wrap-around in ms.
_MAX_SEQ = 2**32 - 1
_MAX_LATENCY_MS = 4294967.295
_MAX_ERROR_CHARS = 99
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)

# Assumption: the TFLite-Micro Arduino port is "Arduino_TensorFlowLite" from
# github.com/tensorflow/tflite-micro-arduino-examples (header TensorFlowLite.h); on ESP32
# the Library Manager's "TensorFlowLite_ESP32" port.
_TFLM_ARDUINO = ("Arduino_TensorFlowLite", "TensorFlowLite.h")
_TFLM_ESP32 = ("TensorFlowLite_ESP32", "TensorFlowLite_ESP32.h")
_TFLM_ARDUINO_NOTE = (
    "Clone github.com/tensorflow/tflite-micro-arduino-examples into `~/Arduino/libraries/`; "
    "the Library Manager's 2.4.0-ALPHA release predates the API this sketch uses."
)
_TFLM_ESP32_NOTE = (
    "It is in the Arduino Library Manager: `arduino-cli lib install TensorFlowLite_ESP32`."
)
_TFLM_PORT_NOTE = (
    "It must be a port that builds for this board's architecture; TinyMLaaS assumes the name "
    "`Arduino_TensorFlowLite`."
)
_STUB_CAMERA_NOTE = (
    "**The camera functions in the example are stubs** (`camera_begin`, `camera_capture`): "
    "fill them in for your camera module; until then the sketch prints an `ERR` line."
)
_ESP_EYE_PINS = {
    "pwdn": -1,
    "reset": -1,
    "xclk": 4,
    "sda": 18,
    "scl": 23,
    "y9": 36,
    "y8": 37,
    "y7": 38,
    "y6": 39,
    "y5": 35,
    "y4": 14,
    "y3": 13,
    "y2": 34,
    "vsync": 5,
    "href": 27,
    "pclk": 25,
}
_ESP32_S3_EYE_PINS = {
    "pwdn": -1,
    "reset": -1,
    "xclk": 15,
    "sda": 4,
    "scl": 5,
    "y9": 16,
    "y8": 17,
    "y7": 18,
    "y6": 12,
    "y5": 10,
    "y4": 8,
    "y3": 9,
    "y2": 11,
    "vsync": 6,
    "href": 7,
    "pclk": 13,
}


@dataclass(frozen=True)
class _Platform:
    """How the example sketch reaches one board's camera and TFLite-Micro port."""

    sketch_name: str
    code: str
    tflm: tuple[str, str]
    tflm_note: str
    camera_note: str
    pins: dict[str, int] = field(default_factory=dict)


_PLATFORMS = {
    "nano33ble": _Platform(
        "Nano33BLE_Camera",
        "platform_nano33ble.inc",
        _TFLM_ARDUINO,
        _TFLM_ARDUINO_NOTE,
        "Install the camera library: `arduino-cli lib install Arduino_OV767X` (OV7675 on the "
        "Tiny Machine Learning Kit shield).",
    ),
    "esp32-eye": _Platform(
        "ESP_EYE_Camera",
        "platform_esp32.inc",
        _TFLM_ESP32,
        _TFLM_ESP32_NOTE,
        "The camera driver (esp32-camera) comes with the ESP32 Arduino core.",
        _ESP_EYE_PINS,
    ),
    "esp32-s3-eye": _Platform(
        "ESP32_S3_EYE_Camera",
        "platform_esp32.inc",
        _TFLM_ESP32,
        _TFLM_ESP32_NOTE,
        "The camera driver (esp32-camera) comes with the ESP32 Arduino core.",
        _ESP32_S3_EYE_PINS,
    ),
}
_STUB_PLATFORM = _Platform(
    "Camera_Classifier", "platform_stub.inc", _TFLM_ARDUINO, _TFLM_PORT_NOTE, _STUB_CAMERA_NOTE
)


def sketch_name(board: Board) -> str:
    """Return the example sketch's name (its folder under examples/) for `board`."""
    return _PLATFORMS.get(board.id, _STUB_PLATFORM).sketch_name


def _template(name: str) -> str:
    """Return a file from sketch_templates/."""
    return (resources.files("tinymlaas.compiling") / "sketch_templates" / name).read_text("utf-8")


def _render(template: str, values: dict[str, str]) -> str:
    """Replace each {{name}} with values[name]; a missing value is a bug, so KeyError."""
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def _c_string(text: str) -> str:
    """Return a C string literal for UTF-8 `text`; octal escapes cannot swallow a next digit."""
    parts = []
    for byte in text.encode():
        if 0x20 <= byte < 0x7F and chr(byte) not in '"\\?':
            parts.append(chr(byte))
        else:
            parts.append(f"\\{byte:03o}")
    return '"' + "".join(parts) + '"'


def _property(text: str) -> str:
    """Return `text` on one line, as a library.properties value must be."""
    return " ".join(text.split())


def _c_float(value: float) -> str:
    """Return a float literal that reads back as `value`."""
    if not math.isfinite(value):
        raise ValueError(f"{value} is not a finite quantization parameter")
    text = repr(float(value))
    return text + "f" if ("." in text or "e" in text) else text + ".0f"


def _line_buffer_bytes(board: Board, labels: list[str], model_id: str, shape: str) -> int:
    """Return the longest line the sketch can print plus its NUL; ValueError past the cap."""
    width, height, channels = (int(size) for size in shape.split("x"))
    hello = format_message(Hello(model_id, board.id, tuple(labels), (width, height, channels)))
    top = max(labels, key=lambda label: len(encode_text(label)))
    worst = Prediction(_MAX_SEQ, top, dict.fromkeys(labels, 1.0), _MAX_LATENCY_MS)
    prediction = format_message(worst)
    error = format_message(DeviceError("x" * _MAX_ERROR_CHARS))
    return max(len(hello), len(prediction), len(error)) + 1


def _check(
    *,
    model: bytes,
    library_name: str,
    labels: list[str],
    sizes: tuple[int, int, int],
    int8: bool,
    input_scale: float,
    output_scale: float,
    ops: Sequence[str],
) -> None:
    """Raise ValueError for arguments that would produce a broken library."""
    if not model:
        raise ValueError("the model is empty")
    if not _LIBRARY_NAME.fullmatch(library_name):
        raise ValueError(
            f"library name {library_name!r} must start with a letter and hold at most 63 "
            "letters, digits or underscores"
        )
    if not labels or any(not label for label in labels) or len(set(labels)) != len(labels):
        raise ValueError("labels must be non-empty and unique")
    if any(size <= 0 for size in sizes) or sizes[2] not in (1, 3):
        raise ValueError("input width and height must be positive and channels 1 or 3")
    if int8 and not (input_scale > 0 and output_scale > 0):
        raise ValueError("an int8 model needs positive input and output scales")
    unknown = sorted(set(ops) - set(_RESOLVER_METHODS))
    if unknown:
        raise ValueError(f"no MicroMutableOpResolver method known for {', '.join(unknown)}")


def _zip(files: dict[str, str]) -> bytes:
    """Return a zip of `files` whose bytes depend only on their names and contents."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so the permission bits below are honoured
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name].encode())
    return buffer.getvalue()


def build_library(
    *,
    model: bytes,
    library_name: str,
    board: Board,
    labels: list[str],
    input_width: int,
    input_height: int,
    channels: int,
    input_scale: float,
    input_zero_point: int,
    output_scale: float,
    output_zero_point: int,
    int8: bool,
    arena_bytes: int,
    model_id: str,
    manifest_json: str,
    ops: Sequence[str] = DEFAULT_OPS,
    url: str = DEFAULT_URL,
) -> bytes:
    """Return the Arduino library `<library_name>/` as deterministic zip bytes.

    `arena_bytes` is the arena measured in TFLite-Micro; the library adds its margin
    (tensor_arena_bytes). `ops` are TFLite builtin operator names the sketch registers.
    """
    sizes = (input_width, input_height, channels)
    _check(
        model=model,
        library_name=library_name,
        labels=labels,
        sizes=sizes,
        int8=int8,
        input_scale=input_scale,
        output_scale=output_scale,
        ops=ops,
    )
    platform = _PLATFORMS.get(board.id, _STUB_PLATFORM)
    shape = f"{input_width}x{input_height}x{channels}"
    op_names = sorted(set(ops))
    header_values = {
        "library_name": library_name,
        "board_name": board.name,
        "board_id": board.id,
        "model_id": _c_string(model_id)[1:-1],
        "guard": f"{library_name.upper()}_H_",
        "input_width": str(input_width),
        "input_height": str(input_height),
        "channels": str(channels),
        "int8": "true" if int8 else "false",
        "input_scale": _c_float(input_scale),
        "input_zero_point": str(input_zero_point),
        "output_scale": _c_float(output_scale),
        "output_zero_point": str(output_zero_point),
        "label_count": str(len(labels)),
        "labels": "\n".join(f"    {_c_string(label)}," for label in labels),
        "measured_arena_bytes": str(arena_bytes),
        "tensor_arena_bytes": str(tensor_arena_bytes(arena_bytes)),
        "line_buffer_bytes": str(_line_buffer_bytes(board, labels, model_id, shape)),
    }
    includes, _, code = _template(platform.code).partition(_CODE_MARKER)
    pins = {f"pin_{name}": str(number) for name, number in platform.pins.items()}
    sketch = _render(
        _template("sketch.ino.in"),
        {
            **header_values,
            "sketch_name": platform.sketch_name,
            "tflm_header": platform.tflm[1],
            "platform_includes": includes.rstrip("\n"),
            "platform_code": _render(code, pins).strip("\n"),
            "op_count": str(len(op_names)),
            "op_registrations": "\n".join(
                f"  resolver.{_RESOLVER_METHODS[name]}();" for name in op_names
            ),
        },
    )
    readme = _render(
        _template("README.md.in"),
        {
            **header_values,
            "model_id": model_id,
            "model_bytes": str(len(model)),
            "color": "grayscale" if channels == 1 else "RGB",
            "quantization": "int8 input and output" if int8 else "float32 input and output",
            "quantization_step": (
                "quantizes each pixel to int8 with the input scale and zero point"
                if int8
                else "passes raw 0-255 pixel values as float32"
            ),
            "label_list": ", ".join(f"`{label}`" for label in labels),
            "tflm_library": platform.tflm[0],
            "tflm_header": platform.tflm[1],
            "tflm_note": platform.tflm_note,
            "camera_note": platform.camera_note,
            "fqbn": board.fqbn or "<your board's FQBN>",
            "sketch_name": platform.sketch_name,
            "op_list": ", ".join(op_names),
        },
    )
    model_header, model_source = to_c_array(model)
    properties = "\n".join(
        [
            f"name={library_name}",
            f"version={LIBRARY_VERSION}",
            "author=TinyMLaaS",
            "maintainer=TinyMLaaS",
            f"sentence=Image classifier ({len(labels)} classes) for {board.name}, "
            "generated by TinyMLaaS.",
            _property(
                f"paragraph=Model {model_id}, input {shape}, labels: {', '.join(labels)}. "
                "The example reads the camera, runs TensorFlow Lite Micro and prints "
                "predictions in the TinyMLaaS serial protocol."
            ),
            "category=Data Processing",
            f"url={url}",
            f"architectures={board.architecture}",
            f"depends={platform.tflm[0]}",
            f"includes={library_name}.h",
            "",
        ]
    )
    root = f"{library_name}/"
    return _zip(
        {
            root + "library.properties": properties,
            root + "README.md": readme,
            root + f"src/{library_name}.h": _render(_template("library.h.in"), header_values),
            root + f"src/{HEADER_NAME}": model_header,
            root + f"src/{SOURCE_NAME}": model_source,
            root + f"src/{PROTOCOL_HEADER}": _template(PROTOCOL_HEADER),
            root + f"src/{PREPROCESS_HEADER}": _template(PREPROCESS_HEADER),
            root + f"examples/{platform.sketch_name}/{platform.sketch_name}.ino": sketch,
            root + "extras/manifest.json": manifest_json,
        }
    )
