"""On-device test throughput: int8 input tensors over a (virtual) serial link, images per second.

Starts a virtual board (a pseudo-terminal pair, the bridge's own VirtualDevice) running a
32×32 grayscale int8 model of the catalog (cnn-small α0.5, 3 classes) in TFLite-Micro, and
streams tensors to it exactly as a device test does (`devices.bridge.device_test`: one TENSOR
frame, wait for its TRES answer, next). Per link speed it prints images/s against the
theoretical limit of the link, bytes per image × 10 bits (8N1: start, 8 data, stop) ÷ baud.

A pseudo-terminal moves bytes at memory speed whatever baud rate is set, so for 115200 and
1,000,000 baud the virtual board takes as long per byte as a UART would (`VirtualDevice`'s
`baudrate`: it sleeps 10 bits per byte it reads and writes). "pty" is the link unpaced: what the
bridge, the framing and the model cost by themselves.

It also gives the bytes per image of the alternative framing considered, a base64 text line
with a CRC (`$TML1,TENSOR,<seq>,<base64>*CCCC\\n`), and the limit that would have.

    .venv/bin/python bench/device_test_throughput.py [--images 2000] [--slow-images 200]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from tinymlaas.compiling import litert
from tinymlaas.compiling.manifest import (
    CompiledArtifacts,
    CompileTarget,
    DatasetFacts,
    ModelFacts,
    build_manifest,
)
from tinymlaas.compiling.quantize import quantize_input
from tinymlaas.compiling.tflm import measure_arena
from tinymlaas.contracts import TrainingConfig
from tinymlaas.devices.bridge.device_test import stream_tensors
from tinymlaas.devices.bridge.transports import SerialTransport, handshake
from tinymlaas.devices.bridge.virtual import VirtualDevice
from tinymlaas.hardware.serial_frames import FRAME_OVERHEAD
from tinymlaas.hardware.serial_protocol import TensorResult, format_message

from support.engine_models import build_int8_model, pattern_images

SIZE = 32
CLASSES = ["a", "b", "c"]


def compiled_model() -> tuple[bytes, dict[str, object], str]:
    """The int8 model, its manifest and model id, as the compile job would store them."""
    model = build_int8_model("cnn-small", 0.5, SIZE, 1)
    input_info, output_info = litert.describe(model)
    config = TrainingConfig(
        architecture="cnn-small", alpha=0.5, input_width=SIZE, input_height=SIZE
    )
    manifest = build_manifest(
        target=CompileTarget(1, "virtual", "int8", datetime(2026, 12, 1, tzinfo=UTC)),
        model=ModelFacts(id=1, name="bench", architecture="cnn-small", alpha=0.5, training=config),
        dataset=DatasetFacts(id=1),
        classes=CLASSES,
        artifacts=CompiledArtifacts(
            model, input_info, output_info, measure_arena(model).arena_bytes
        ),
        versions={},
        files={"model.tflite": model},
    )
    text = manifest.to_json().encode()
    return model, json.loads(text), hashlib.sha256(text).hexdigest()


def measure(
    baudrate: int | None, tensors: np.ndarray, model: tuple[bytes, dict[str, object], str]
) -> dict[str, float]:
    """Stream every tensor to a fresh virtual board at `baudrate`; images/s and checks."""
    device = VirtualDevice(0, [("x.png", b"")], interval_seconds=3600, baudrate=baudrate)
    device.start()
    try:
        device.install(model[0], model[1], model[2])
        with SerialTransport(device.port) as transport:
            assert handshake(transport) is not None
            started = time.perf_counter()
            run = stream_tensors(
                transport,
                iter(t.tobytes() for t in tensors),
                5.0,
                threading.Event(),
                lambda _: None,
            )
            seconds = time.perf_counter() - started
    finally:
        device.stop()
    statuses = [answer.status for answer in run.answers]
    assert statuses == ["ok"] * len(tensors), statuses[:5]
    host = litert.predict_raw(model[0], tensors)
    agree = np.mean([list(a.scores) == h for a, h in zip(run.answers, host.tolist(), strict=True)])
    latency = np.median([answer.latency_us or 0 for answer in run.answers])
    return {
        "images": len(tensors),
        "seconds": seconds,
        "rate": len(tensors) / seconds,
        "identical": float(agree),
        "latency_us": float(latency),
    }


def measure_capture(baudrate: int) -> tuple[int, float, int]:
    """One QCIF camera frame (RGB, as a virtual camera sends it) over the link: bytes, seconds
    and the PNG's size."""
    from PIL import Image

    from tinymlaas.devices.bridge.capture import fetch_frame, to_png
    from tinymlaas.hardware.serial_protocol import Capture

    y, x = np.mgrid[0:144, 0:176]
    pixels = np.stack([(3 * x + 5 * y) & 0xFF, x, y], -1).astype(np.uint8)
    output = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(output, format="PNG")
    device = VirtualDevice(0, [("qcif.png", output.getvalue())], 3600, baudrate=baudrate)
    device.start()
    try:
        with SerialTransport(device.port) as transport:
            assert handshake(transport) is not None
            started = time.perf_counter()
            frame = fetch_frame(transport, Capture(0), timeout=60)
            seconds = time.perf_counter() - started
    finally:
        device.stop()
    return len(frame.encode()) + FRAME_OVERHEAD, seconds, len(to_png(frame))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2000, help="per fast link (pty, 1 Mbaud)")
    parser.add_argument("--slow-images", type=int, default=200, help="at 115200 baud")
    args = parser.parse_args()
    print("building the model …", flush=True)
    model = compiled_model()
    pixels = pattern_images(max(args.images, args.slow_images), SIZE, 1, seed=7)
    info = litert.describe(model[0])[0]
    tensors = quantize_input(pixels, info)
    tensor_bytes = SIZE * SIZE
    frame = tensor_bytes + FRAME_OVERHEAD
    answer = len(format_message(TensorResult(999, 1234, (-128, 127, -5))))
    line = len(f"$TML1,TENSOR,999,{base64.b64encode(bytes(tensor_bytes)).decode()}*CCCC\n")
    print(
        f"tensor {tensor_bytes} B; binary frame {frame} B; base64 line {line} B; answer ~{answer} B"
    )
    print(
        "| link | images | seconds | images/s | limit (frame) | % of limit"
        " | limit (base64 line) | identical to host | p50 latency |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for name, baud, count in (
        ("pty (unpaced)", None, args.images),
        ("1,000,000 baud", 1_000_000, args.images),
        ("115,200 baud", 115_200, args.slow_images),
    ):
        result = measure(baud, tensors[:count], model)
        limit = baud / 10 / frame if baud else None
        line_limit = baud / 10 / line if baud else None
        print(
            f"| {name} | {count} | {result['seconds']:.2f} | {result['rate']:.1f} | "
            + (
                f"{limit:.1f} | {100 * result['rate'] / limit:.0f} % | {line_limit:.1f}"
                if limit and line_limit
                else "– | – | –"
            )
            + f" | {100 * result['identical']:.0f} % | {result['latency_us']:.0f} µs |",
            flush=True,
        )
    print("\n| camera frame (QCIF RGB888) | bytes | seconds | limit | PNG bytes |")
    print("|---|--:|--:|--:|--:|")
    for name, baud in (("1,000,000 baud", 1_000_000), ("115,200 baud", 115_200)):
        size, seconds, png = measure_capture(baud)
        print(f"| {name} | {size} | {seconds:.2f} | {size * 10 / baud:.2f} | {png} |", flush=True)


if __name__ == "__main__":
    main()
