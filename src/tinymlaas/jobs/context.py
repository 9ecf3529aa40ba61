"""What a running task sees of its job: progress reporting and cancellation."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tinymlaas.db.session import transaction
from tinymlaas.jobs import repository
from tinymlaas.models import Job


class JobCancelled(Exception):
    """Raised inside a task when its job was cancelled; the runner records it."""


@dataclass
class JobContext:
    """Handed to a task; every report is its own short transaction."""

    job_id: int
    factory: sessionmaker[Session]
    worker: str
    cancel_check_seconds: float = 0.5
    _last_check: float = field(default=0.0, init=False)

    def progress(self, fraction: float, message: str, **data: Any) -> None:
        """Record progress (0..1) and a message; extra data goes into the event."""
        fraction = max(0.0, min(1.0, fraction))
        with transaction(self.factory) as session:
            session.execute(
                update(Job)
                .where(Job.id == self.job_id)
                .values(progress=fraction, message=message[:500])
                .execution_options(synchronize_session=False)
            )
            repository.add_event(
                session, self.job_id, "progress", {"progress": fraction, "message": message, **data}
            )

    def event(self, type_: str, data: dict[str, Any]) -> None:
        with transaction(self.factory) as session:
            repository.add_event(session, self.job_id, type_, data)

    def cancel_requested(self) -> bool:
        """Whether someone asked to cancel (checked at most every `cancel_check_seconds`)."""
        now = time.monotonic()
        if now - self._last_check < self.cancel_check_seconds:
            return False
        self._last_check = now
        with self.factory() as session:
            return bool(session.scalar(select(Job.cancel_requested).where(Job.id == self.job_id)))

    def raise_if_cancelled(self) -> None:
        if self.cancel_requested():
            raise JobCancelled
