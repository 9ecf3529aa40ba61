import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinymlaas.compiling import litert
from tinymlaas.compiling.tflm import (
    MINIMUM_ARENA_BYTES,
    ArenaTooSmall,
    MicroRunner,
    bisect_arena,
    measure_arena,
    predict,
    tflm_version,
)


@pytest.mark.slow
def test_runner_describes_the_same_tensors_as_litert(int8_model: bytes) -> None:
    runner = MicroRunner(int8_model)

    assert (runner.input, runner.output) == litert.describe(int8_model)


@pytest.mark.slow
def test_int8_predictions_match_litert_to_one_output_step(
    int8_model: bytes, images: Callable[[int, int], Any], trained_model: Any
) -> None:
    # Random images as well as class-like ones, to reach requantization rounding ties.
    pixels = np.concatenate([trained_model.held_out.pixels, images(300, 5).pixels])
    noise = np.random.default_rng(9).integers(0, 256, (300, 32, 32, 1), dtype=np.uint8)
    pixels = np.concatenate([pixels, noise])
    step = litert.describe(int8_model)[1].scale

    micro = predict(int8_model, pixels)
    reference = litert.predict(int8_model, pixels)

    # TFLite and TFLite-Micro round FULLY_CONNECTED requantization ties differently, so a
    # rare output differs by one int8 step; everything else is bit-exact.
    differing_rows = np.any(micro != reference, axis=1)
    assert np.max(np.abs(micro - reference)) <= step
    assert differing_rows.mean() <= 0.01
    held_out = slice(0, len(trained_model.held_out.labels))
    assert np.mean(micro[held_out].argmax(1) == reference[held_out].argmax(1)) >= 0.99


@pytest.mark.slow
def test_float32_predictions_match_litert_to_rounding(
    float32_model: bytes, trained_model: Any
) -> None:
    pixels = trained_model.held_out.pixels

    micro = predict(float32_model, pixels)
    reference = litert.predict(float32_model, pixels)

    # LiteRT's optimized float kernels sum in another order than TFLM's reference kernels.
    np.testing.assert_allclose(micro, reference, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(micro.argmax(axis=1), reference.argmax(axis=1))


@pytest.mark.slow
def test_recorded_arena_is_the_smallest_that_runs_up_to_alignment(int8_model: bytes) -> None:
    measurement = measure_arena(int8_model)
    smallest = bisect_arena(int8_model)

    assert measurement.method == "print_allocations"
    assert MINIMUM_ARENA_BYTES < smallest < 64 * 1024
    # The recorder counts alignment padding the last allocation may not need.
    assert smallest <= measurement.arena_bytes <= smallest + 16
    for arena_bytes in (measurement.arena_bytes, smallest):
        MicroRunner(int8_model, arena_bytes).predict(np.zeros((1, 32, 32, 1), np.uint8))
    with pytest.raises(ArenaTooSmall, match="arena is too small for this model"):
        MicroRunner(int8_model, smallest - 1)


@pytest.mark.slow
def test_float32_model_needs_a_larger_arena(int8_model: bytes, float32_model: bytes) -> None:
    int8_arena = measure_arena(int8_model).arena_bytes
    float32_arena = measure_arena(float32_model).arena_bytes

    assert 0 <= float32_arena - bisect_arena(float32_model) <= 16
    assert float32_arena > int8_arena


@pytest.mark.slow
def test_model_whose_softmax_tflm_cannot_quantize_is_refused(trained_model: Any) -> None:
    import keras

    from tinymlaas.compiling.tflite import convert

    flat = keras.models.clone_model(trained_model.keras_model)
    weights = trained_model.keras_model.get_weights()
    # Logits a billionth apart: TFLM's softmax would call abort() while preparing.
    flat.set_weights([*weights[:-2], weights[-2] * 1e-9, weights[-1] * 0])
    model = convert(flat, "int8", trained_model.train.pixels[:50])
    litert.check_model(model)

    with pytest.raises(ValueError, match="softmax input scale .* is too small"):
        MicroRunner(model)


@pytest.mark.slow
def test_runner_refuses_an_arena_that_would_crash_the_runtime(int8_model: bytes) -> None:
    with pytest.raises(ValueError, match=f"at least {MINIMUM_ARENA_BYTES}"):
        MicroRunner(int8_model, arena_bytes=100)


@pytest.mark.slow
def test_runner_measures_the_arena_when_none_is_given(int8_model: bytes) -> None:
    assert MicroRunner(int8_model).arena_bytes == measure_arena(int8_model).arena_bytes


@pytest.mark.slow
def test_invoke_timed_returns_the_scores_of_predict_and_a_latency(
    int8_model: bytes, trained_model: Any
) -> None:
    runner = MicroRunner(int8_model)
    image = trained_model.held_out.pixels[0]

    scores, latency_ms = runner.invoke_timed(image)
    batched_scores, _ = runner.invoke_timed(image[np.newaxis])

    np.testing.assert_array_equal(scores, runner.predict(image[np.newaxis])[0])
    np.testing.assert_array_equal(scores, batched_scores)
    assert scores.shape == (3,)
    assert 0 < latency_ms < 1000
    with pytest.raises(ValueError, match="one image"):
        runner.invoke_timed(trained_model.held_out.pixels[:2])


@pytest.mark.slow
def test_repeated_predictions_do_not_leak_state(int8_model: bytes, trained_model: Any) -> None:
    runner = MicroRunner(int8_model)
    pixels = trained_model.held_out.pixels[:20]

    first = runner.predict(pixels)
    reversed_order = runner.predict(pixels[::-1])[::-1]

    np.testing.assert_array_equal(first, reversed_order)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (b"not a model at all", "'TFL3' is missing"),
        (
            bytes(np.random.default_rng(4).integers(0, 256, 3000, dtype=np.uint8)),
            "'TFL3' is missing",
        ),
        (b"\x10\x00\x00\x00TFL3" + bytes(500), "invalid TFLite model"),
    ],
)
def test_runner_rejects_what_is_not_a_model(model: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MicroRunner(model)
    with pytest.raises(ValueError, match=message):
        measure_arena(model)


@pytest.mark.slow
def test_corrupted_models_raise_instead_of_crashing(int8_model: bytes, tmp_path: Path) -> None:
    # Unchecked, about one in ten of these corruptions segfaults TFLite-Micro: run them in a
    # child process so a crash fails this test instead of killing the test run.
    model_path = tmp_path / "model.tflite"
    model_path.write_bytes(int8_model)
    script = textwrap.dedent(
        f"""
        import numpy as np
        from tinymlaas.compiling.tflm import MicroRunner
        model = open({str(model_path)!r}, "rb").read()
        outcomes = {{"ran": 0, "rejected": 0}}
        for seed in range(80):
            rng = np.random.default_rng(seed)
            corrupted = bytearray(model)
            for offset in rng.integers(0, len(model), 3):
                corrupted[offset] = rng.integers(0, 256)
            try:
                MicroRunner(bytes(corrupted)).predict(np.zeros((1, 32, 32, 1), np.uint8))
                outcomes["ran"] += 1
            except (ValueError, RuntimeError):
                outcomes["rejected"] += 1
        print(outcomes["ran"], outcomes["rejected"])
        """
    )

    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr[-2000:]
    ran, rejected = map(int, result.stdout.split())
    assert ran + rejected == 80
    assert rejected > 0


def test_tflm_version_is_the_pinned_build() -> None:
    assert tflm_version().startswith("0.dev")
