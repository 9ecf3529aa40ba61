"""The C engine's in-place operators: activation plan, total RAM and instructions, with and
without them, on the same models as `engine_vs_tflm.py` (built the same way).

For each model: TFLite-Micro's arena (measured by the product on the host), the per-operator
floor, the planned activation buffer with every operator writing a buffer of its own
(`in_place="none"`) and with the planner's choice (`"auto"`), the operators run in place,
and on the Nano 33 BLE's emulated Cortex-M4F the measured RAM (data + bss, the buffer
included) plus the stack's high-water mark, and instructions per inference. Both builds must
give the host's output bytes.

    .venv/bin/python bench/engine_in_place.py
    .venv/bin/python bench/engine_in_place.py --models mobilenet-v1:0.25:96:1
"""

from __future__ import annotations

import argparse
import os

from engine_vs_tflm import Spec, build, images

MODELS = "cnn-small:1.0:32:1,mobilenet-v1:0.25:96:1,mobilenet-v2:0.35:96:1"
HEADER = (
    f"{'model':<32} {'TFLM arena':>10} {'floor':>7} {'peak none':>9} {'peak auto':>9}"
    f" {'in place':>12} {'RAM+stack none':>14} {'RAM+stack auto':>14} {'/arena':>6}"
    f" {'M4 instr. none':>14} {'M4 instr. auto':>14}"
)


def row(spec: Spec) -> str:
    from tinymlaas.compiling import tflm
    from tinymlaas.engine import host
    from tinymlaas.engine.baremetal import measure
    from tinymlaas.engine.codegen import generate
    from tinymlaas.hardware.boards import get_board

    model = build(spec)
    arena = tflm.measure_arena(model).arena_bytes
    board = get_board("nano33ble")
    pixels = images(3, spec.size, spec.channels, seed=7)
    figures = {}
    for mode in ("none", "auto"):
        library = generate(model, in_place=mode)
        sample = host.quantize_pixels(library, pixels)[2].tobytes()
        measured = measure(
            library.files, board.core, board.app_flash_bytes, board.ram_bytes, sample,
            timeout_s=300,
        )  # fmt: skip
        if measured.output != host.predict(library, pixels[2:3]).tobytes():
            raise SystemExit(f"{spec} ({mode}): the M4's output differs from the host's")
        figures[mode] = (library, measured.ram_bytes + measured.stack_bytes, measured)
    none, auto = figures["none"], figures["auto"]
    operators = ",".join(str(i) for i in auto[0].in_place_operators) or "-"
    return (
        f"{spec!s:<32} {arena:>10,} {auto[0].floor_bytes:>7,} {none[0].peak_bytes:>9,}"
        f" {auto[0].peak_bytes:>9,} {operators:>12} {none[1]:>14,} {auto[1]:>14,}"
        f" {auto[1] / arena:>6.3f} {none[2].instructions:>14,} {auto[2].instructions:>14,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", default=MODELS, help="architecture:alpha:size:channels")
    arguments = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print(HEADER)
    for text in arguments.models.split(","):
        print(row(Spec.parse(text)), flush=True)
    print("\n/arena = RAM + stack with in-place operators / TFLite-Micro's arena on the host.")


if __name__ == "__main__":
    main()
