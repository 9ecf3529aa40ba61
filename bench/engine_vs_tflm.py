"""The C engine side by side with TFLite-Micro on the same int8 models, in one run.

For each model (built with the product's architectures and converter, batch-norm statistics
and int8 calibration set on generated images): byte-identical outputs of the generated C and
the TFLite-Micro interpreter on every image; the activation memory the engine plans against
TFLite-Micro's arena (both measured by the product: `engine.codegen`, `compiling.tflm`); host
time per inference of both; and, on the emulated Cortex-M4F of the Nano 33 BLE, the engine's
measured flash (weights, requantization constants, code), RAM, stack and instructions per
inference (`engine.baremetal.measure`), with the kernels' DSP path and, built with
-DTML_PORTABLE, their portable C. TFLite-Micro's own C++ cannot be built here (no
registry ships its sources): its Cortex-M4 figures are the ones measured outside the project
and quoted in issue 12, printed as a reference, not as part of this run.

    .venv/bin/python bench/engine_vs_tflm.py                  # the four models, 100 images
    .venv/bin/python bench/engine_vs_tflm.py --models mobilenet-v1:0.25:96:1 --images 20
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tinymlaas.engine.baremetal import Measurement

DEFAULT_MODELS = (
    "cnn-small:1.0:32:1,mobilenet-v1:0.25:96:1,mobilenet-v1:0.25:96:3,mobilenet-v2:0.35:96:1"
)
# TFLite-Micro C++ on the emulated Cortex-M4F, MobileNet v1 α0.25 96×96 gray (issue 12).
REFERENCE_MODEL = "mobilenet-v1:0.25:96:1"
TFLM_M4_REFERENCE = {"reference kernels": 533_000_000, "CMSIS-NN kernels": 26_400_000}
TFLM_LIBRARY_FLASH = {"reference kernels": 90_600, "CMSIS-NN kernels": 139_000}


@dataclass(frozen=True)
class Spec:
    architecture: str
    alpha: float
    size: int
    channels: int

    @classmethod
    def parse(cls, text: str) -> Spec:
        architecture, alpha, size, channels = text.split(":")
        return cls(architecture, float(alpha), int(size), int(channels))

    def __str__(self) -> str:
        colour = "gray" if self.channels == 1 else "RGB"
        return f"{self.architecture} α{self.alpha:g} {self.size}×{self.size} {colour}"


def images(count: int, size: int, channels: int, seed: int) -> np.ndarray:
    """uint8 stripes and gradients with noise, one black and one white frame."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:size, 0:size].astype(np.float64)
    out = np.empty((count, size, size, channels), np.uint8)
    for index in range(count):
        frequency, phase = rng.uniform(0.05, 0.6), rng.uniform(0, 2 * np.pi)
        base = 127 + 110 * np.sin(frequency * columns + phase) * np.cos(frequency * rows)
        noise = rng.normal(0, rng.uniform(2, 40), (size, size, channels))
        out[index] = np.clip(base[..., None] + noise, 0, 255).astype(np.uint8)
    out[0], out[1] = 0, 255
    return out


def build(spec: Spec) -> bytes:
    from tinymlaas.compiling.tflite import convert
    from tinymlaas.training.architectures import build_model, recalibrate_batch_norm

    model = build_model(spec.architecture, spec.alpha, (spec.size, spec.size, spec.channels), 3)
    calibration = images(64, spec.size, spec.channels, seed=100).astype(np.float32)
    recalibrate_batch_norm(model, calibration)
    return convert(model, "int8", calibration.astype(np.uint8))


@dataclass(frozen=True)
class Row:
    model: str
    identical: int
    images: int
    peak: int
    floor: int
    arena: int
    c_ms: float
    tflm_ms: float
    m4: Measurement
    m4_same_output: bool
    m4_portable: Measurement  # the same C built with -DTML_PORTABLE (no DSP instructions)


def compare(spec: Spec, count: int) -> Row:
    from tinymlaas.compiling import tflm
    from tinymlaas.engine import host
    from tinymlaas.engine.baremetal import measure
    from tinymlaas.engine.codegen import generate
    from tinymlaas.hardware.boards import get_board

    model = build(spec)
    library = generate(model)
    pixels = images(count, spec.size, spec.channels, seed=7)
    inputs = host.quantize_pixels(library, pixels)
    runner = tflm.MicroRunner(model)
    with host.load(library) as compiled:
        ours = np.stack([compiled.invoke(sample) for sample in inputs])
        c_ms = statistics.median(_timed_ms(compiled.invoke, sample) for sample in inputs)
    # TFLite-Micro's float scores back to its int8 outputs (exact: q = score / scale + zp).
    output = library.output_quantization
    scores = runner.predict(pixels).reshape(count, -1)
    reference = np.clip(np.round(scores / output.scale) + output.zero_point, -128, 127)
    tflm_ms = statistics.median(runner.invoke_timed(image)[1] for image in pixels)
    board = get_board("nano33ble")
    first = inputs[0].tobytes()
    on_m4 = measure(library.files, board.core, board.app_flash_bytes, board.ram_bytes, first)
    portable_files = {**library.files}
    portable_files["tml_requantize.h"] = (
        "#define TML_PORTABLE 1\n" + portable_files["tml_requantize.h"]
    )
    portable = measure(portable_files, board.core, board.app_flash_bytes, board.ram_bytes, first)
    same = np.all(ours.reshape(count, -1) == reference.astype(np.int8), axis=1)
    same_on_m4 = on_m4.output == ours[0].tobytes() == portable.output
    return Row(
        str(spec), int(np.sum(same)), count, library.peak_bytes, library.floor_bytes,
        runner.arena_bytes, c_ms, tflm_ms, on_m4, same_on_m4, portable,
    )  # fmt: skip


def _timed_ms(run: Callable[[np.ndarray], object], sample: np.ndarray) -> float:
    started = time.perf_counter()
    run(sample)
    return (time.perf_counter() - started) * 1000


HEADER = (
    f"{'model':<30} {'identical':>9} {'peak':>8} {'floor':>8} {'TFLM arena':>10} {'ratio':>5}"
    f" {'C ms':>6} {'TFLM ms':>7} {'M4 instructions':>15} {'M4 portable':>12}"
    f" {'flash weights/qparams/code':>26}"
    f" {'RAM':>7} {'stack':>5}"
)


def line(row: Row) -> str:
    m4 = row.m4
    flash = f"{m4.weights_bytes:,}/{m4.qparams_bytes:,}/{m4.code_bytes:,}"
    check = "" if row.m4_same_output else "  (an M4 output differs from the host's!)"
    return (
        f"{row.model:<30} {f'{row.identical}/{row.images}':>9} {row.peak:>8,} {row.floor:>8,}"
        f" {row.arena:>10,} {row.peak / row.arena:>5.2f} {row.c_ms:>6.2f} {row.tflm_ms:>7.2f}"
        f" {m4.instructions:>15,} {row.m4_portable.instructions:>12,} {flash:>26}"
        f" {m4.ram_bytes:>7,} {m4.stack_bytes:>5}{check}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", default=DEFAULT_MODELS, help="architecture:alpha:size:channels")
    parser.add_argument("--images", type=int, default=100, help="images per model")
    arguments = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print(HEADER)
    rows = []
    for text in arguments.models.split(","):
        rows.append(compare(Spec.parse(text), arguments.images))
        print(line(rows[-1]), flush=True)
    print(
        "\nratio = the engine's planned activation peak / TFLite-Micro's arena (both measured"
        " here).\nTFLite-Micro C++ on the same emulated Cortex-M4F, MobileNet v1 α0.25 96×96 gray"
        " (measured outside the project, quoted in issue 12):"
    )
    for kernels, instructions in TFLM_M4_REFERENCE.items():
        flash = TFLM_LIBRARY_FLASH[kernels]
        print(f"  {kernels:<18} {instructions:>12,} instructions/inference, library {flash:,} B")
    for row in rows:
        if row.model == str(Spec.parse(REFERENCE_MODEL)):
            print(f"{row.model}, TFLite-Micro's instructions / the engine's on the M4:")
            for kernels, instructions in TFLM_M4_REFERENCE.items():
                dsp, portable = row.m4.instructions, row.m4_portable.instructions
                print(
                    f"  {kernels:<18} {instructions / dsp:6.2f}× (DSP path)"
                    f" {instructions / portable:6.2f}× (portable C)"
                )


if __name__ == "__main__":
    main()
