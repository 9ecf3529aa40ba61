"""c_library.zip: the model compiled to plain C99, for any toolchain (pure: text in, zip out).

The generated sources sit at the top level (`cc -std=c99 -O2 -c *.c` builds them), with a
Makefile for a static library, a README with the API and the input's preprocessing, the
manifest, and `examples/main.c`, which runs one image and prints the int8 scores.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

from tinymlaas.compiling.manifest import Preprocessing
from tinymlaas.engine.codegen import HEADER_NAME, GeneratedLibrary

_MAKEFILE = """# Builds libtinymlaas_model.a from the generated sources; `make example` too.
CC ?= cc
AR ?= ar
CFLAGS ?= -std=c99 -O2
SOURCES := $(wildcard *.c)
OBJECTS := $(SOURCES:.c=.o)

libtinymlaas_model.a: $(OBJECTS)
\t$(AR) rcs $@ $^

%.o: %.c
\t$(CC) $(CFLAGS) -c $< -o $@

example: examples/main.c libtinymlaas_model.a
\t$(CC) $(CFLAGS) -I. -o $@ examples/main.c libtinymlaas_model.a

clean:
\trm -f $(OBJECTS) libtinymlaas_model.a example

.PHONY: clean
"""


def _c_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if 32 <= ord(c) < 127 else "?" for c in escaped) + '"'


_EXAMPLE_MAIN = """int main(int argc, char **argv)
{
    static unsigned char pixels[TML_INPUT_SIZE];
    static int8_t input[TML_INPUT_SIZE];
    static int8_t output[TML_OUTPUT_SIZE];
    int i, best = 0;

    for (i = 0; i < TML_INPUT_SIZE; i++) {
        pixels[i] = 128;
    }
    if (argc > 1) {
        FILE *file = fopen(argv[1], "rb");
        if (file == NULL || fread(pixels, 1, TML_INPUT_SIZE, file) != TML_INPUT_SIZE) {
            fprintf(stderr, "cannot read %d pixels from %s\\n", TML_INPUT_SIZE, argv[1]);
            return 1;
        }
        fclose(file);
    }
    for (i = 0; i < TML_INPUT_SIZE; i++) {
        input[i] = quantize(pixels[i]);
    }
    if (tml_invoke(input, output) != 0) {
        fprintf(stderr, "tml_invoke failed\\n");
        return 1;
    }
    printf("scores:");
    for (i = 0; i < TML_OUTPUT_SIZE; i++) {
        printf(" %d", output[i]);
        if (output[i] > output[best]) {
            best = i;
        }
    }
    printf("\\ntop: %d %s\\n", best, LABEL_COUNT ? labels[best] : "");
    (void)labels;
    return 0;
}
"""


def _example(library: GeneratedLibrary, classes: list[str]) -> str:
    scale = float(np.float32(library.input_quantization.scale)).hex()
    labels = ", ".join(_c_string(name) for name in classes) if classes else '""'
    label_count = len(classes) if len(classes) == library.output_size else 0
    header = f"""/* Runs the model on one image and prints its int8 scores.
 * Usage: example [pixels.bin] -- pixels.bin holds TML_INPUT_SIZE uint8 pixels, preprocessed as
 * README.md says (resized, channels last); without it the example uses a mid-gray image. */
#include <math.h>
#include <stdio.h>
#include "../{HEADER_NAME}"

/* The input quantization: q = clamp(floor(pixel / SCALE + 0.5) + ZERO_POINT, -128, 127). */
#define INPUT_SCALE {scale}f
#define INPUT_ZERO_POINT {library.input_quantization.zero_point}
#define LABEL_COUNT {label_count}

static const char *const labels[] = {{{labels}}};

static int8_t quantize(unsigned char pixel)
{{
    float scaled = floorf((float)pixel / INPUT_SCALE + 0.5f);
    long q = (long)scaled + INPUT_ZERO_POINT;
    return (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
}}

"""
    return header + _EXAMPLE_MAIN


def _in_place_note(library: GeneratedLibrary) -> str:
    saved = library.in_place_saved_bytes
    return f"; operators run in place over their input save {saved:,}" if saved else ""


def _readme(
    library: GeneratedLibrary, name: str, classes: list[str], preprocessing: Preprocessing
) -> str:
    quantized_in, quantized_out = library.input_quantization, library.output_quantization
    shape = "×".join(str(size) for size in library.input_shape[1:])
    steps = [
        f"- colour: {preprocessing.color_mode}",
        f"- resize: {preprocessing.resize}",
        *([f"- grayscale: {preprocessing.grayscale}"] if preprocessing.grayscale else []),
        f"- pixel range: {preprocessing.pixel_range}",
        f"- quantize: {preprocessing.quantize}",
    ]
    return "\n".join(
        [
            f"# {name}: the model as plain C99 (TinyMLaaS C engine)",
            "",
            "No interpreter, no malloc, no dependency beyond a C99 compiler: the weights are",
            "`const` arrays (flash) and the activations one static buffer planned at compile",
            f"time ({library.peak_bytes:,} bytes; the largest single operator needs"
            f" {library.floor_bytes:,}{_in_place_note(library)}). Weights and constants: "
            f"{library.weights_bytes + library.qparams_bytes:,} bytes.",
            "",
            "## Build",
            "",
            "    cc -std=c99 -O2 -c *.c        # or: make (libtinymlaas_model.a)",
            "    make example && ./example [pixels.bin]",
            "",
            "Add the `.c` files to any project (Zephyr, ESP-IDF, STM32Cube, a host program).",
            "",
            f"## API (`{HEADER_NAME}`)",
            "",
            f"- `TML_INPUT_SIZE` = {library.input_size}: bytes of the int8 input ({shape},"
            " channels last)",
            f"- `TML_OUTPUT_SIZE` = {library.output_size}: bytes of the int8 output scores",
            "- `int tml_invoke(const int8_t *input, int8_t *output);` runs the model once and"
            " returns 0 on success. Not reentrant: the activations live in one static buffer.",
            "",
            "## Input: preprocessing and quantization",
            "",
            *steps,
            "",
            f"The int8 input is q = clamp(floor(pixel / {quantized_in.scale!r} + 0.5) +"
            f" ({quantized_in.zero_point}), -128, 127), in float32 (`examples/main.c` does it).",
            "",
            "## Output",
            "",
            f"Score i is real = (q - ({quantized_out.zero_point})) × {quantized_out.scale!r};"
            " the highest is the prediction.",
            *([f"Classes, in output order: {', '.join(classes)}."] if classes else []),
            "",
            "`manifest.json` records what produced the model; the same file is the compiled"
            " model's manifest in TinyMLaaS.",
            "",
        ]
    )


def build_c_library(
    library: GeneratedLibrary,
    name: str,
    classes: list[str],
    preprocessing: Preprocessing,
    manifest: str,
) -> bytes:
    """The zip: generated sources at the top level, Makefile, README.md, examples/main.c."""
    files = {
        **library.files,
        "Makefile": _MAKEFILE,
        "README.md": _readme(library, name, classes, preprocessing),
        "manifest.json": manifest,
        "examples/main.c": _example(library, classes),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in sorted(files.items()):
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text.encode("utf-8"))
    return buffer.getvalue()
