"""A clock for the token code (`tinymlaas.auth.clock.now`) that moves only when a test says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class MovableClock:
    """Stands still at the (whole) second it was made until `advance` moves it on."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
