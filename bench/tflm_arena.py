"""Compare TFLite-Micro's recorded arena total with the bisected minimum on a few int8 models.

Run: python bench/tflm_arena.py. The models are fitted for one epoch on random pixels and labels:
the arena depends on the graph, not on the weights, but an untrained MobileNetV2's logits are so
close together that TFLite-Micro's softmax cannot be quantized (check_micro_model refuses it).
"""

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tinymlaas.compiling import litert, tflm
from tinymlaas.compiling.tflite import convert


def small_cnn(size: int) -> Any:
    """Return a three-layer conv net on grayscale input."""
    import keras

    return keras.Sequential(
        [
            keras.Input((size, size, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


def mobilenet_v2(size: int, alpha: float) -> Any:
    """Return MobileNetV2 (random weights) on grayscale input."""
    import keras

    inputs = keras.Input((size, size, 1))
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    base = keras.applications.MobileNetV2(
        input_shape=(size, size, 1), alpha=alpha, include_top=False, weights=None, pooling="avg"
    )
    outputs = keras.layers.Dense(3, activation="softmax")(base(scaled))
    return keras.Model(inputs, outputs)


def timed(action: Callable[[], Any]) -> tuple[Any, float]:
    """Return the action's result and its wall time in seconds."""
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def main() -> None:
    """Print arena figures and latencies per model."""
    rng = np.random.default_rng(0)
    models = {
        "cnn-small 96x96x1": small_cnn(96),
        "mobilenet-v2 a0.35 96x96x1": mobilenet_v2(96, 0.35),
    }
    header = (
        f"{'model':28} {'tflite B':>9} {'recorded B':>11} {'bisected B':>11} "
        f"{'record s':>9} {'bisect s':>9} {'tflm ms':>8} {'litert ms':>9}"
    )
    print(header)
    for name, model in models.items():
        size = model.input_shape[1]
        representative = rng.integers(0, 256, (100, size, size, 1), dtype=np.uint8)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        labels = rng.integers(0, 3, len(representative))
        model.fit(representative.astype(np.float32), labels, epochs=1, verbose=0)
        flatbuffer = convert(model, "int8", representative)
        recorded, record_seconds = timed(lambda fb=flatbuffer: tflm.measure_arena(fb))
        bisected, bisect_seconds = timed(lambda fb=flatbuffer: tflm.bisect_arena(fb))
        runner = tflm.MicroRunner(flatbuffer, recorded.arena_bytes)
        latencies = [runner.invoke_timed(image)[1] for image in representative[:20]]
        _, litert_seconds = timed(
            lambda fb=flatbuffer, r=representative: litert.predict(fb, r[:20])
        )
        print(
            f"{name:28} {len(flatbuffer):9d} {recorded.arena_bytes:11d} {bisected:11d} "
            f"{record_seconds:9.2f} {bisect_seconds:9.2f} {np.median(latencies):8.2f} "
            f"{litert_seconds / 20 * 1000:9.2f}"
        )


if __name__ == "__main__":
    argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0]).parse_args()
    main()
