"""Fixtures for the engine tests (helpers in support/engine_models.py)."""

from __future__ import annotations

import pytest

from support.engine_models import IMAGE_SIZE, build_int8_model


@pytest.fixture(scope="session")
def cnn_small_gray() -> bytes:
    """cnn-small, 32×32 grayscale, int8."""
    return build_int8_model("cnn-small", 1.0, IMAGE_SIZE, 1)
