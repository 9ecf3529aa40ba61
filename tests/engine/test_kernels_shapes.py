"""The convolution kernels' fast paths on awkward shapes: odd channel counts, odd positions,
stride 2, SAME and VALID padding, one input channel, depths that are not a multiple of 4.

Each model's int8 outputs must equal TFLite-Micro's (portable C on the host), and the same
library built for a Cortex-M4F (DSP path: SMLAD, SMMLAR) must give the host's bytes under
QEMU. The requantization's fast form is checked against the generic one on the core too."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinymlaas.engine import codegen_ops, host
from tinymlaas.engine.baremetal import measure
from tinymlaas.engine.codegen import generate
from tinymlaas.engine.debug import first_difference

from support.engine_models import assert_bit_exact, pattern_images

MEGABYTES_4 = 4 << 20


def _conv_stack(inputs: object, keras: object) -> object:
    """Rescaling, a 3x3/2 conv, depthwise stride 1 and 2 (SAME, and VALID below) on few and on
    many channels, pointwise convs with odd depths and channel counts."""
    layers = keras.layers  # type: ignore[attr-defined]
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = layers.Conv2D(7, 3, strides=2, padding="same", activation="relu6")(x)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    # Depth 14 for the next pointwise: 3 DSP steps (the odd one, a pair) and a tail of 2.
    x = layers.Conv2D(14, 1, activation="relu6")(x)
    # 67 channels: the position-by-position depthwise (64 and more), 3 channels past the SIMD.
    x = layers.Conv2D(67, 1, activation="relu6")(x)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(x)
    return layers.Conv2D(9, 1)(x)


def _odd_model(size: tuple[int, int], channels: int, head: bool) -> bytes:
    """The conv stack, then (`head`) a VALID depthwise, pointwise convs on one position and to
    one channel and a dense softmax; without the head the stack's output is the model's, so
    that every kernel's bytes reach it."""
    import keras

    from tinymlaas.compiling.tflite import convert

    keras.utils.set_random_seed(5)
    inputs = keras.Input((*size, channels), batch_size=1)
    x = _conv_stack(inputs, keras)
    if head:
        x = keras.layers.DepthwiseConv2D(3, padding="valid", activation="relu")(x)
        x = keras.layers.Conv2D(5, 1, activation="relu6")(x)
        x = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = keras.layers.Conv2D(4, 1, activation="relu6")(x)  # one position
        x = keras.layers.Conv2D(1, 1)(x)  # one channel
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, x)
    pixels = pattern_images(24, max(size), channels, seed=3)[:, : size[0], : size[1]]
    return convert(model, "int8", pixels)


SHAPES = {"gray-13x11": ((13, 11), 1), "rgb-10x15": ((10, 15), 3)}


@pytest.fixture(scope="module", params=sorted(SHAPES))
def odd_shape(request: pytest.FixtureRequest) -> tuple[tuple[int, int], int, np.ndarray]:
    size, channels = SHAPES[request.param]
    pixels = pattern_images(6, max(size), channels, seed=9)[:, : size[0], : size[1]]
    return size, channels, np.ascontiguousarray(pixels)


def _assert_every_operator_matches(model: bytes, pixels: np.ndarray) -> None:
    """Each operator's int8 output equals TFLite-Micro's, image by image (portable C)."""
    library = generate(model)
    for sample in host.quantize_pixels(library, pixels):
        assert first_difference(model, library, sample) is None
    assert_bit_exact(model, pixels)


@pytest.mark.slow  # TensorFlow builds the models
def test_fast_paths_match_tflite_micro_on_odd_shapes(
    odd_shape: tuple[tuple[int, int], int, np.ndarray],
) -> None:
    size, channels, pixels = odd_shape
    model = _odd_model(size, channels, head=True)
    source = generate(model).files["tinymlaas_model.c"]
    assert ".fast = 0" not in source
    assert "tml_lookup(" in source  # the Rescaling's MUL and ADD as tables
    _assert_every_operator_matches(model, pixels)


@pytest.mark.slow
def test_generic_paths_match_tflite_micro(
    odd_shape: tuple[tuple[int, int], int, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The generator's decision forced the other way: every conv on the generic kernels."""
    size, channels, pixels = odd_shape
    model = _odd_model(size, channels, head=True)
    monkeypatch.setattr(codegen_ops, "fast_conv", lambda *arguments: False)
    assert ".fast = 1" not in generate(model).files["tinymlaas_model.c"]
    _assert_every_operator_matches(model, pixels)


@pytest.mark.slow
def test_dsp_path_gives_the_host_bytes_on_odd_shapes(
    odd_shape: tuple[tuple[int, int], int, np.ndarray],
) -> None:
    size, channels, pixels = odd_shape
    model = _odd_model(size, channels, head=False)
    library = generate(model)
    assert library.output_size > 100  # the conv stack's own output, every kernel in it
    inputs = host.quantize_pixels(library, pixels[:3])
    expected = host.predict(library, pixels[:3]).reshape(3, -1)
    outputs = [
        measure(library.files, "cortex-m4f", MEGABYTES_4, MEGABYTES_4, sample.tobytes()).output
        for sample in inputs.astype(np.int8)
    ]
    assert outputs == [row.tobytes() for row in expected]
    assert_bit_exact(model, pixels)


@pytest.mark.parametrize(
    ("shifts", "bias", "fast"),
    [
        ([-7, -9], 1000, True),
        ([-7, 0], 1000, False),  # shift 0: no rounding bit for the output offset's trick
        ([-7, 2], 1000, False),  # a left shift
        ([-1, -22], 1000, True),
        ([-7, -23], 1000, False),  # offset x 2^23 would not fit beside the value
        ([-7, -9], 2**29, False),  # accumulators too large for 2 x value in 32 bits
    ],
)
def test_fast_paths_are_chosen_only_where_they_are_exact(
    shifts: list[int], bias: int, fast: bool
) -> None:
    rows = np.full((2, 9), 127, dtype=np.int8)
    assert codegen_ops.fast_conv(rows, np.array([bias, -bias]), 128, shifts) is fast


_REQUANTIZE_CHECK = r"""#include "tinymlaas_model.h"
#include "tml_requantize.h"

/* Fast vs generic requantization on values up to 2^30 and shifts -1..-31: output byte 0 is
 * the number of mismatches (saturated at 127), byte 1 the number of cases / 1024. */
int tml_invoke(const int8_t *input, int8_t *output)
{
    uint32_t state = 2463534242u + (uint8_t)input[0];
    int32_t mismatches = 0, cases = 0, shift;
    for (shift = -1; shift >= -31; --shift) {
        int32_t n;
        for (n = 0; n < 1024; ++n) {
            tml_channel c;
            int32_t value;
            state ^= state << 13; state ^= state >> 17; state ^= state << 5;
            value = (int32_t)(state & 0x7fffffffu) >> (n % 31);
            value = (n & 1) ? -value : value;
            if (value <= -(1 << 30) || value >= (1 << 30)) {
                value /= 2;
            }
            state ^= state << 13; state ^= state >> 17; state ^= state << 5;
            c.bias = 0;
            c.multiplier = (int32_t)((1u << 30) | (state >> 2));
            c.right = -shift;
            c.round = (int32_t)(1u << (c.right - 1));
            mismatches += tml_requantize_small(value, c) !=
                          tml_requantize(value, c.multiplier, shift);
            ++cases;
        }
    }
    output[0] = (int8_t)(mismatches > 127 ? 127 : mismatches);
    output[1] = (int8_t)(cases / 1024);
    return 0;
}
"""


_HOST_MAIN = r"""#include <stdio.h>
#include "tinymlaas_model.h"
int main(void)
{
    const int8_t input[1] = {0};
    int8_t output[2];
    tml_invoke(input, output);
    printf("%d %d\n", output[0], output[1]);
    return 0;
}
"""


@pytest.mark.parametrize("core", ["cortex-m4f", "cortex-m33", "host"])
def test_fast_requantization_equals_the_generic_one(core: str, tmp_path: Path) -> None:
    """SMMLAR on the cores with the DSP extension, the portable 64-bit form on the host."""
    library = generate_requantize_check()
    if core == "host":
        for name, text in {**library, "main.c": _HOST_MAIN}.items():
            (tmp_path / name).write_text(text)
        sources = sorted(str(path) for path in tmp_path.glob("*.c"))
        subprocess.run(
            ["cc", "-std=c99", "-O2", *sources, "-o", str(tmp_path / "check")], check=True
        )
        printed = subprocess.run([str(tmp_path / "check")], capture_output=True, text=True).stdout
        output = bytes(int(field) for field in printed.split())
    else:
        output = measure(library, core, MEGABYTES_4, MEGABYTES_4, bytes(1)).output
    assert output == bytes([0, 31])


def generate_requantize_check() -> dict[str, str]:
    files = {
        name: text
        for name, text in generate_kernels().items()
        if name.startswith("tml_") and name != "tinymlaas_model.c"
    }
    files["tinymlaas_model.h"] = (
        "#include <stdint.h>\n#define TML_INPUT_SIZE 1\n#define TML_OUTPUT_SIZE 2\n"
        "int tml_invoke(const int8_t *input, int8_t *output);\n"
    )
    files["tinymlaas_model.c"] = _REQUANTIZE_CHECK
    return files


def generate_kernels() -> dict[str, str]:
    from importlib import resources

    kernels = resources.files("tinymlaas.engine") / "kernels"
    return {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in kernels.iterdir()
        if entry.name.endswith((".c", ".h"))
    }
