"""Measure the C engine's figures for the search's space: what search/c_engine_figures.py holds.

For every catalog architecture × alpha × colour mode at each of the search's default input
sizes: the untrained model (BatchNorm statistics recalibrated on random pixels), converted to
int8 as the compile job does, turned into the C engine's C (engine/codegen.py: its planned
activation buffer with in-place operators, its weights and requantization constants as laid
out in the generated C). With `--measure` each library is also built for a Cortex-M4 (the Nano
33 BLE's flash and RAM) and run once under QEMU: the linker's code bytes, the model's static
RAM and the stack it used, from which the per-operator code constants are fitted.

One JSON object per line on stdout (load average and date on stderr):

    .venv/bin/python bench/c_engine_footprints.py --measure > figures.jsonl
    .venv/bin/python bench/c_engine_footprints.py --classes 4 --sizes 32   # the class delta
    .venv/bin/python bench/c_engine_footprints.py --measure --architectures mobilenet-v2 \
        --alphas 0.05 --channels 1 --sizes 32 48                            # a subset
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

import numpy as np
from datasets_import_export import load_average

from tinymlaas.search.space import DEFAULT_INPUT_SIZES
from tinymlaas.training import catalog


def figures(architecture: str, alpha: float, size: int, channels: int, classes: int) -> dict:
    from tinymlaas.compiling.tflite import convert
    from tinymlaas.engine.codegen import generate
    from tinymlaas.engine.reader import read_model
    from tinymlaas.training.architectures import build_model, recalibrate_batch_norm

    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (16, size, size, channels)).astype(np.float32)
    model = build_model(architecture, alpha, (size, size, channels), classes, seed=0)
    recalibrate_batch_norm(model, images)
    tflite = convert(model, "int8", images)
    library = generate(tflite)
    counts = Counter(operator.name for operator in read_model(tflite).operators)
    return {
        "architecture": architecture,
        "alpha": alpha,
        "size": size,
        "channels": channels,
        "classes": classes,
        "peak": library.peak_bytes,
        "weights": library.weights_bytes,
        "qparams": library.qparams_bytes,
        "operators": dict(counts),
        "in_place": len(library.in_place_operators),
        "_library": library,
    }


def measure(library: object) -> dict:
    from tinymlaas.engine import baremetal
    from tinymlaas.engine.codegen import GeneratedLibrary
    from tinymlaas.hardware.boards import get_board

    assert isinstance(library, GeneratedLibrary)
    nano = get_board("nano33ble")
    sample = np.zeros(library.input_size, dtype=np.int8).tobytes()
    result = baremetal.measure(
        library.files, "cortex-m4f", nano.app_flash_bytes, nano.ram_bytes, sample
    )
    return {
        "code": result.code_bytes,
        "ram": result.ram_bytes,
        "stack": result.stack_bytes,
        "measured_weights": result.weights_bytes + result.qparams_bytes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--classes", type=int, default=catalog.REFERENCE_CLASSES)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(DEFAULT_INPUT_SIZES))
    parser.add_argument("--architectures", nargs="*", default=list(catalog.ARCHITECTURES))
    parser.add_argument("--alphas", type=float, nargs="*", help="only these (default: all)")
    parser.add_argument("--channels", type=int, nargs="*", default=[1, 3], choices=(1, 3))
    parser.add_argument("--measure", action="store_true", help="build and run under QEMU too")
    arguments = parser.parse_args()
    known = {a for name in arguments.architectures for a in catalog.ARCHITECTURES[name].alphas}
    if arguments.alphas and not set(arguments.alphas) <= known:
        parser.error(f"--alphas {sorted(set(arguments.alphas) - known)} not in {sorted(known)}")
    print(f"{time.strftime('%Y-%m-%d %H:%M')} load average {load_average()}", file=sys.stderr)
    for name in arguments.architectures:
        spec = catalog.ARCHITECTURES[name]
        alphas = [a for a in spec.alphas if arguments.alphas is None or a in arguments.alphas]
        for alpha in alphas:
            for channels in arguments.channels:
                for size in arguments.sizes:
                    row = figures(name, alpha, size, channels, arguments.classes)
                    library = row.pop("_library")
                    if arguments.measure:
                        row.update(measure(library))
                    print(json.dumps(row), flush=True)
    print(f"{time.strftime('%Y-%m-%d %H:%M')} load average {load_average()}", file=sys.stderr)


if __name__ == "__main__":
    main()
