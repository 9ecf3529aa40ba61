"""Models of older converters: LiteRT refuses what TFLite-Micro runs; the project measures them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tinymlaas.compiling import litert, tflm

from support.imported_models import (
    ImportableModel,
    pattern_pixels,
    train_importable_model,
    with_old_converter_bias_dimension,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models() -> tuple[bytes, bytes]:
    model: ImportableModel = train_importable_model()
    return model.tflite_bytes, with_old_converter_bias_dimension(model.tflite_bytes)


def test_litert_alone_refuses_the_bias_quantized_dimension(models: tuple[bytes, bytes]) -> None:
    from ai_edge_litert.interpreter import Interpreter

    _, old = models
    with pytest.raises(ValueError, match=r"quantized_dimension must be in range \[0, 1\). Was 3"):
        Interpreter(model_content=old).allocate_tensors()


def test_tflite_micro_runs_it_and_it_is_measured_like_the_original(
    models: tuple[bytes, bytes],
) -> None:
    current, old = models
    pixels, labels = pattern_pixels(per_class=10)

    arena = tflm.measure_arena(old).arena_bytes

    # The same tensors: equal up to the runtime's 16-byte alignment of the arena buffer.
    assert abs(arena - tflm.measure_arena(current).arena_bytes) <= 16
    old_scores = tflm.predict(old, pixels, arena_bytes=arena)
    np.testing.assert_array_equal(old_scores, tflm.predict(current, pixels, arena_bytes=arena))
    assert np.mean(old_scores.argmax(axis=1) == labels) >= 0.9
    np.testing.assert_array_equal(litert.predict(old, pixels), litert.predict(current, pixels))


def test_only_the_out_of_range_field_is_changed_for_litert(models: tuple[bytes, bytes]) -> None:
    current, old = models

    compatible = litert.litert_compatible(old)

    assert litert.litert_compatible(current) is current
    differing = [i for i, (a, b) in enumerate(zip(old, compatible, strict=True)) if a != b]
    assert len(differing) == 1  # one depthwise bias: its quantized_dimension 3 became 0
    assert (old[differing[0]], compatible[differing[0]]) == (3, 0)
    litert.check_model(old)


def test_other_quantized_dimensions_litert_refuses_stay_refused(
    models: tuple[bytes, bytes],
) -> None:
    from support.imported_models import rewrite

    current, _ = models

    def weights_dimension_beyond_rank(tree: Any) -> None:
        for tensor in tree.subgraphs[0].tensors:
            scales = tensor.quantization.scale if tensor.quantization else None
            if len(tensor.shape) == 4 and scales is not None and len(scales) > 1:
                tensor.quantization.quantizedDimension = 5

    broken = rewrite(current, weights_dimension_beyond_rank)
    with pytest.raises(ValueError, match="quantized_dimension must be in range"):
        tflm.measure_arena(broken)
