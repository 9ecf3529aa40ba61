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
from dataclasses import dataclass
from importlib import resources

from tinymlaas.compiling.arduino_platforms import PLATFORMS, STUB_PLATFORM, Platform
from tinymlaas.compiling.c_array import HEADER_NAME, SOURCE_NAME, to_c_array
from tinymlaas.hardware import serial_protocol as protocol
from tinymlaas.hardware.boards import Board
from tinymlaas.hardware.footprint import tensor_arena_bytes

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
_SECTION = re.compile(r"^// ==== ([a-z ]+) ====\n", re.MULTILINE)
# The longest unsigned long a 32-bit board counts to, and micros() wrap-around in ms.
_MAX_SEQ = 2**32 - 1
_MAX_LATENCY_MS = 4294967.295
_MAX_ERROR_CHARS = 99
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
_TFLM_CONSTANTS = (
    "// The arena TFLite-Micro's reference kernels needed when TinyMLaaS measured this model,\n"
    "// plus 10% and 1 KiB: optimized kernels (CMSIS-NN, ESP-NN) ask for extra scratch buffers.\n"
    "constexpr size_t kMeasuredArenaBytes = {{measured_arena_bytes}};\n"
    "constexpr size_t kTensorArenaBytes = {{tensor_arena_bytes}};\n"
)


def sketch_name(board: Board) -> str:
    """Return the example sketch's name (its folder under examples/) for `board`."""
    return PLATFORMS.get(board.id, STUB_PLATFORM).sketch_name


def template(name: str) -> str:
    """Return a file from sketch_templates/."""
    return (resources.files("tinymlaas.compiling") / "sketch_templates" / name).read_text("utf-8")


def render(text: str, values: dict[str, str]) -> str:
    """Replace each {{name}} with values[name]; a missing value is a bug, so KeyError."""
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def sections(text: str) -> dict[str, str]:
    """Split a template part at its `// ==== name ====` lines; the text before the first is
    "includes"."""
    parts = _SECTION.split(text)
    found = {"includes": parts[0]}
    found.update(zip(parts[1::2], parts[2::2], strict=True))
    return found


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
    top = max(labels, key=lambda label: len(protocol.encode_text(label)))
    shape_3 = (width, height, channels)
    longest = (
        protocol.Hello(model_id, board.id, tuple(labels), shape_3, protocol.LATEST_PROTOCOL),
        protocol.Prediction(_MAX_SEQ, top, dict.fromkeys(labels, 1.0), _MAX_LATENCY_MS),
        protocol.DeviceError("x" * _MAX_ERROR_CHARS),
        # The answers to TENSOR frames: every raw output at its longest, and a refusal.
        protocol.TensorResult(_MAX_SEQ, _MAX_SEQ, (-128,) * len(labels)),
        protocol.TensorError(_MAX_SEQ, "x" * _MAX_ERROR_CHARS),
    )
    return max(len(protocol.format_message(message)) for message in longest) + 1


def _check(model: bytes, spec: "LibrarySpec", ops: Sequence[str]) -> None:
    """Raise ValueError for arguments that would produce a broken library."""
    if not model:
        raise ValueError("the model is empty")
    check_spec(spec)
    unknown = sorted(set(ops) - set(_RESOLVER_METHODS))
    if unknown:
        raise ValueError(f"no MicroMutableOpResolver method known for {', '.join(unknown)}")


def check_spec(spec: "LibrarySpec") -> None:
    """Raise ValueError for library constants that would produce a broken library."""
    if not _LIBRARY_NAME.fullmatch(spec.library_name):
        raise ValueError(
            f"library name {spec.library_name!r} must start with a letter and hold at most 63 "
            "letters, digits or underscores"
        )
    labels = spec.labels
    if not labels or any(not label for label in labels) or len(set(labels)) != len(labels):
        raise ValueError("labels must be non-empty and unique")
    sizes = (spec.input_width, spec.input_height, spec.channels)
    if any(size <= 0 for size in sizes) or spec.channels not in (1, 3):
        raise ValueError("input width and height must be positive and channels 1 or 3")
    if spec.int8 and not (spec.input_scale > 0 and spec.output_scale > 0):
        raise ValueError("an int8 model needs positive input and output scales")


def zip_files(files: dict[str, str]) -> bytes:
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


@dataclass(frozen=True)
class LibrarySpec:
    """What the generated library's constants hold: names, input, quantization, arena, labels.

    `arena_bytes` is the arena measured in TFLite-Micro; the library adds its margin
    (tensor_arena_bytes).
    """

    library_name: str
    board: Board
    labels: list[str]
    input_width: int
    input_height: int
    channels: int
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    int8: bool
    arena_bytes: int
    model_id: str

    @property
    def shape(self) -> str:
        return f"{self.input_width}x{self.input_height}x{self.channels}"


def build_library(
    model: bytes,
    spec: LibrarySpec,
    manifest_json: str,
    *,
    ops: Sequence[str] = DEFAULT_OPS,
    url: str = DEFAULT_URL,
) -> bytes:
    """Return the Arduino library `<library_name>/` (TFLite-Micro) as deterministic zip bytes.

    `ops` are TFLite builtin operator names the sketch registers.
    """
    _check(model, spec, ops)
    platform = PLATFORMS.get(spec.board.id, STUB_PLATFORM)
    values = header_values(spec)
    model_header, model_source = to_c_array(model)
    op_names = sorted(set(ops))
    engine = SketchEngine(
        "TFLite-Micro",
        "engine_tflm.inc",
        {
            "tflm_header": platform.tflm[1],
            "op_count": str(len(op_names)),
            "op_registrations": "\n".join(
                f"  resolver.{_RESOLVER_METHODS[name]}();" for name in op_names
            ),
        },
        arena=True,
    )
    header = {"model_header": HEADER_NAME, "engine_constants": render(_TFLM_CONSTANTS, values)}
    root = f"{spec.library_name}/"
    return zip_files(
        {
            root + "library.properties": properties(
                spec, url, "runs TensorFlow Lite Micro", platform.tflm[0]
            ),
            root + "README.md": _readme(model, spec, platform, values, ops),
            root + f"src/{HEADER_NAME}": model_header,
            root + f"src/{SOURCE_NAME}": model_source,
            **common_files(spec, platform, values | header, engine),
            root + "extras/manifest.json": manifest_json,
        }
    )


def common_files(
    spec: LibrarySpec, platform: Platform, values: dict[str, str], engine: "SketchEngine"
) -> dict[str, str]:
    """The files both engines' libraries hold: the library header (`values` has its
    `model_header` and `engine_constants`), the protocol and preprocessing headers, the sketch."""
    root, name, sketch = f"{spec.library_name}/", spec.library_name, platform.sketch_name
    return {
        root + f"src/{name}.h": render(template("library.h.in"), values),
        root + f"src/{PROTOCOL_HEADER}": template(PROTOCOL_HEADER),
        root + f"src/{PREPROCESS_HEADER}": template(PREPROCESS_HEADER),
        root + f"examples/{sketch}/{sketch}.ino": render_sketch(platform, values, engine),
    }


def header_values(spec: LibrarySpec) -> dict[str, str]:
    """The placeholders the library header, the sketch and the README share."""
    labels = spec.labels
    line_buffer = _line_buffer_bytes(spec.board, labels, spec.model_id, spec.shape)
    return {
        "library_name": spec.library_name,
        "board_name": spec.board.name,
        "board_id": spec.board.id,
        "model_id": _c_string(spec.model_id)[1:-1],
        "guard": f"{spec.library_name.upper()}_H_",
        "input_width": str(spec.input_width),
        "input_height": str(spec.input_height),
        "channels": str(spec.channels),
        "int8": "true" if spec.int8 else "false",
        "input_scale": _c_float(spec.input_scale),
        "input_zero_point": str(spec.input_zero_point),
        "output_scale": _c_float(spec.output_scale),
        "output_zero_point": str(spec.output_zero_point),
        "label_count": str(len(labels)),
        "labels": "\n".join(f"    {_c_string(label)}," for label in labels),
        "measured_arena_bytes": str(spec.arena_bytes),
        "tensor_arena_bytes": str(tensor_arena_bytes(spec.arena_bytes)),
        "line_buffer_bytes": str(line_buffer),
    }


@dataclass(frozen=True)
class SketchEngine:
    """The inference part of the example sketch: `template` (sketch_templates/) has includes,
    then `// ==== state ====` (globals before the board support) and `// ==== code ====`
    (model_begin, model_input_int8/float, model_invoke, model_scores); `arena` keeps the
    platform's `tflm arena` section."""

    title: str
    template: str
    values: dict[str, str]
    arena: bool


def render_sketch(platform: Platform, values: dict[str, str], engine: SketchEngine) -> str:
    """The example sketch for the board's platform, running the model with `engine`."""
    board = sections(template(platform.code))
    pins = {f"pin_{name}": str(number) for name, number in platform.pins.items()}
    code = board["code"].strip("\n")
    if engine.arena:
        code += "\n\n" + board["tflm arena"].strip("\n")
    parts = sections(render(template(engine.template), values | engine.values))
    return render(
        template("sketch.ino.in"),
        {
            **values,
            "sketch_name": platform.sketch_name,
            "engine_title": engine.title,
            "engine_includes": parts["includes"].rstrip("\n"),
            "engine_state": parts["state"].strip("\n"),
            "engine_code": parts["code"].strip("\n"),
            "board_support_extra": " and tensor arena" if engine.arena else "",
            "platform_includes": board["includes"].rstrip("\n"),
            "platform_code": render(code, pins),
        },
    )


def _readme(
    model: bytes,
    spec: LibrarySpec,
    platform: Platform,
    header_values: dict[str, str],
    ops: Sequence[str],
) -> str:
    """README.md: what the model expects and how to build the example."""
    return render(
        template("README.md.in"),
        {
            **header_values,
            "model_id": spec.model_id,
            "model_bytes": str(len(model)),
            "color": "grayscale" if spec.channels == 1 else "RGB",
            "quantization": "int8 input and output" if spec.int8 else "float32 input and output",
            "quantization_step": (
                "quantizes each pixel to int8 with the input scale and zero point"
                if spec.int8
                else "passes raw 0-255 pixel values as float32"
            ),
            "label_list": ", ".join(f"`{label}`" for label in spec.labels),
            "tflm_library": platform.tflm[0],
            "tflm_header": platform.tflm[1],
            "tflm_note": platform.tflm_note,
            "camera_note": platform.camera_note,
            "fqbn": spec.board.fqbn or "<your board's FQBN>",
            "sketch_name": platform.sketch_name,
            "op_list": ", ".join(sorted(set(ops))),
        },
    )


def properties(spec: LibrarySpec, url: str, runs: str, depends: str | None) -> str:
    """library.properties, one key=value a line; the example `runs` the model."""
    board, labels, name = spec.board, spec.labels, spec.library_name
    return "\n".join(
        [
            f"name={name}",
            f"version={LIBRARY_VERSION}",
            "author=TinyMLaaS",
            "maintainer=TinyMLaaS",
            f"sentence=Image classifier ({len(labels)} classes) for {board.name}, "
            "generated by TinyMLaaS.",
            _property(
                f"paragraph=Model {spec.model_id}, input {spec.shape}, labels: "
                f"{', '.join(labels)}. The example reads the camera, {runs} "
                "and prints predictions in the TinyMLaaS serial protocol."
            ),
            "category=Data Processing",
            f"url={url}",
            f"architectures={board.architecture}",
            *([f"depends={depends}"] if depends else []),
            f"includes={name}.h",
            "",
        ]
    )
