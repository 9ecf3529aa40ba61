"""What the serving process does for jobs in the background: local workers and lease checks."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from tinymlaas.config import Settings
from tinymlaas.jobs import repository
from tinymlaas.jobs.executor import Executor
from tinymlaas.jobs.runner import TASKS
from tinymlaas.jobs.worker import LocalWorkerSupervisor, reap

log = logging.getLogger(__name__)


class JobMaintenance:
    """Starts local workers (no broker), re-sends queued jobs (broker), fails lost jobs."""

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        executor: Executor,
        start_local_workers: bool = True,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.executor = executor
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.supervisor: LocalWorkerSupervisor | None = None
        self.start_local_workers = start_local_workers

    def start(self) -> None:
        if self.settings.resolved_executor == "local":
            if self.start_local_workers and self.settings.local_workers > 0:
                self.supervisor = LocalWorkerSupervisor(self.settings.local_workers)
                self.supervisor.start()
        else:
            self._resend_queued()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="job-maintenance")
        self.thread.start()

    def _resend_queued(self) -> None:
        """Jobs left queued when the server last stopped (their message may be lost) run now."""
        try:
            with self.factory() as session:
                queued = repository.next_queued(session, list(TASKS), limit=None)
            for job_id in queued:
                self.executor.submit(job_id)
        except Exception:
            log.exception("could not re-send queued jobs")

    def _loop(self) -> None:
        interval = max(1.0, self.settings.job_stale_seconds / 6)
        while not self.stop_event.wait(interval):
            try:
                reap(self.factory, self.settings)
            except Exception:
                log.exception("job maintenance failed")

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        if self.supervisor is not None:
            self.supervisor.stop()
