"""The token code's clock, moved by the tests instead of sleeping."""

from __future__ import annotations

import pytest

from tinymlaas.auth import clock as token_clock

from support.clock import MovableClock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> MovableClock:
    """Replaces the time the token code reads (issue, expiry, the token cache) for one test."""
    movable = MovableClock()
    monkeypatch.setattr(token_clock, "now", movable)
    return movable
