"""What a running task sees of its job: progress reporting and cancellation."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tinymlaas.db.session import UNREACHABLE, commit_patiently, transaction
from tinymlaas.jobs import repository
from tinymlaas.models import Job

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long a finished task keeps trying to store its results while the database is unreachable.
RESULT_PATIENCE_SECONDS = 600.0


class JobCancelled(Exception):
    """Raised inside a task when its job was cancelled; the runner records it."""


@dataclass
class JobContext:
    """Handed to a task; every report is its own short transaction.

    Progress reports and events are skipped while the database is unreachable (a restart, a
    network cut): the task goes on, and its results are stored with `store`, which waits for
    the database to come back.
    """

    job_id: int
    factory: sessionmaker[Session]
    worker: str
    cancel_check_seconds: float = 0.5
    _last_check: float = field(default=0.0, init=False)

    def progress(self, fraction: float, message: str, **data: Any) -> None:
        """Record progress (0..1) and a message; extra data goes into the event."""
        fraction = max(0.0, min(1.0, fraction))

        def record(session: Session) -> None:
            session.execute(
                update(Job)
                .where(Job.id == self.job_id)
                .values(progress=fraction, message=message[:500])
                .execution_options(synchronize_session=False)
            )
            event = {"progress": fraction, "message": message, **data}
            repository.add_event(session, self.job_id, "progress", event)

        self._report(record)

    def event(self, type_: str, data: dict[str, Any]) -> None:
        self._report(lambda session: repository.add_event(session, self.job_id, type_, data))

    def store(self, work: Callable[[Session], T]) -> T:
        """Write the task's results in one transaction, waiting out a database outage."""
        what = f"job {self.job_id}: storing the results"
        return commit_patiently(self.factory, work, RESULT_PATIENCE_SECONDS, what)

    def _report(self, work: Callable[[Session], None]) -> None:
        try:
            with transaction(self.factory) as session:
                work(session)
        except UNREACHABLE as exc:
            log.warning("job %s: report skipped, database unreachable: %s", self.job_id, exc)

    def cancel_requested(self) -> bool:
        """Whether someone asked to cancel (checked at most every `cancel_check_seconds`)."""
        now = time.monotonic()
        if now - self._last_check < self.cancel_check_seconds:
            return False
        self._last_check = now
        try:
            with self.factory() as session:
                query = select(Job.cancel_requested).where(Job.id == self.job_id)
                return bool(session.scalar(query))
        except UNREACHABLE:
            return False  # asked again at the next check

    def raise_if_cancelled(self) -> None:
        if self.cancel_requested():
            raise JobCancelled
