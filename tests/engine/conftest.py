"""Fixtures for the engine tests (helpers in support/engine_models.py)."""

from __future__ import annotations

import pytest

from support.engine_models import IMAGE_SIZE, build_int8_model


@pytest.fixture(scope="session")
def cnn_small_gray() -> bytes:
    """cnn-small, 32×32 grayscale, int8."""
    return build_int8_model("cnn-small", 1.0, IMAGE_SIZE, 1)


@pytest.fixture(scope="session")
def mobilenet_v1_96_gray() -> bytes:
    """MobileNet v1 α0.25, 96×96 grayscale, int8: the issue's RAM and speed anchor."""
    return build_int8_model("mobilenet-v1", 0.25, 96, 1)
