"""Observations past `TINYMLAAS_OBSERVATION_RETENTION_DAYS` deleted in batches (serving process).

Their hourly aggregates are not touched: they were added up as the predictions arrived
(`ingest.py`), so history outlives the rows. Each batch is its own short transaction, and a
run deletes at most MAX_BATCHES of them, so neither locks nor one run grow with the backlog.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from tinymlaas.config import Settings
from tinymlaas.db.base import utcnow
from tinymlaas.db.session import transaction
from tinymlaas.devices import observation_repository

log = logging.getLogger(__name__)
MAX_BATCHES = 20


def delete_expired(
    factory: sessionmaker[Session], cutoff: datetime, batch: int, max_batches: int = MAX_BATCHES
) -> int:
    """Delete observations older than `cutoff`, `batch` rows a transaction; how many went."""
    deleted = 0
    for _ in range(max_batches):
        with transaction(factory) as session:
            count = observation_repository.delete_older_than(session, cutoff, batch)
        deleted += count
        if count < batch:
            break
    return deleted


class ObservationRetention:
    """A chore of the job maintenance thread: every `observation_retention_check_seconds`,
    one bounded run of `delete_expired`."""

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.clock = clock
        self.next_run = clock()

    def __call__(self) -> None:
        days = self.settings.observation_retention_days
        if days <= 0 or self.clock() < self.next_run:
            return
        self.next_run = self.clock() + self.settings.observation_retention_check_seconds
        cutoff = utcnow() - timedelta(days=days)
        deleted = delete_expired(self.factory, cutoff, self.settings.observation_retention_batch)
        if deleted:
            log.info("deleted %s observations older than %s days", deleted, days)
