"""arduino_library.zip for engine "c": the generated C99 model as an Arduino library whose example
sketch needs only the board's core (pure: text in, zip out).

The generated sources go to `src/` (the Arduino builder compiles `.c` files there as C; their
header has `extern "C"` guards for the C++ sketch). The sketch is the TFLite-Micro one with
`tml_invoke` as its inference part: same camera loop, board support and serial protocol.
"""

from __future__ import annotations

from tinymlaas.compiling.arduino import (
    DEFAULT_URL,
    LibrarySpec,
    SketchEngine,
    check_spec,
    common_files,
    header_values,
    properties,
    render,
    template,
    zip_files,
)
from tinymlaas.compiling.arduino_platforms import PLATFORMS, STUB_PLATFORM
from tinymlaas.engine.codegen import HEADER_NAME, GeneratedLibrary

_C_CONSTANTS = """// The generated C (tinymlaas_model.h): int8 in, int8 scores out, one static
// activation buffer of {{activation_bytes}} bytes inside the library; no tensor arena.
constexpr size_t kActivationBytes = {{activation_bytes}};
static_assert(TML_INPUT_SIZE == kInputWidth * kInputHeight * kInputChannels,
              "the generated model's input size differs from the input shape");
static_assert(TML_OUTPUT_SIZE == kLabelCount,
              "the generated model's output size differs from the label count");
"""


def _check(library: GeneratedLibrary, spec: LibrarySpec) -> None:
    """Raise ValueError when the generated C and the constants disagree."""
    check_spec(spec)
    if not spec.int8:
        raise ValueError("the C engine runs int8 models only")
    if library.input_size != spec.input_width * spec.input_height * spec.channels:
        raise ValueError(
            f"the generated model takes {library.input_size} input bytes, not {spec.shape}"
        )
    if library.output_size != len(spec.labels):
        raise ValueError(
            f"the generated model gives {library.output_size} scores for {len(spec.labels)} labels"
        )


def build_c_arduino_library(
    library: GeneratedLibrary, spec: LibrarySpec, manifest_json: str, *, url: str = DEFAULT_URL
) -> bytes:
    """Return the Arduino library `<library_name>/` of the generated C as deterministic zip
    bytes: `src/` holds the generated sources, the library, protocol and preprocessing headers;
    `examples/<sketch>/` the camera sketch; no dependency beyond the board's core."""
    _check(library, spec)
    platform = PLATFORMS.get(spec.board.id, STUB_PLATFORM)
    values = header_values(spec) | {"activation_bytes": str(library.peak_bytes)}
    values |= {
        "model_header": HEADER_NAME,
        "engine_constants": render(_C_CONSTANTS, values),
        "sketch_name": platform.sketch_name,
        "camera_note": platform.camera_note,
        "fqbn": spec.board.fqbn or "<your board's FQBN>",
        "floor_bytes": str(library.floor_bytes),
        "weights_bytes": str(library.weights_bytes + library.qparams_bytes),
        "operators": ", ".join(library.operators),
        "label_list": ", ".join(f"`{label}`" for label in spec.labels),
        "color": "grayscale" if spec.channels == 1 else "RGB",
    }
    engine = SketchEngine("TinyMLaaS C engine", "engine_c.inc", {}, arena=False)
    readme_values = values | {"model_id": spec.model_id}
    root = f"{spec.library_name}/"
    runs = "runs the model compiled to C by TinyMLaaS (no TensorFlow Lite Micro)"
    return zip_files(
        {
            root + "library.properties": properties(spec, url, runs, None),
            root + "README.md": render(template("README_c.md.in"), readme_values),
            **{root + f"src/{name}": text for name, text in library.files.items()},
            **common_files(spec, platform, values, engine),
            root + "extras/manifest.json": manifest_json,
        }
    )
