"""The time the token code reads: access token issue and expiry, and the recent-token cache.

One module-level function, so tests can move time on (by replacing `now`) instead of sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)
