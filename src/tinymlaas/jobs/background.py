"""What the serving process does for jobs in the background: local workers, lease checks and
alerts about queued jobs no worker takes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from tinymlaas.config import Settings
from tinymlaas.db.session import transaction
from tinymlaas.jobs import repository, service
from tinymlaas.jobs.executor import Executor
from tinymlaas.jobs.runner import TASKS
from tinymlaas.jobs.worker import LocalWorkerSupervisor, Reaper

log = logging.getLogger(__name__)


class JobMaintenance:
    """Starts local workers (no broker), re-sends queued jobs (broker), fails lost jobs, and
    says so on jobs no worker takes."""

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        executor: Executor,
        start_local_workers: bool = True,
        chores: Sequence[Callable[[], None]] = (),
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.executor = executor
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.supervisor: LocalWorkerSupervisor | None = None
        self.start_local_workers = start_local_workers
        # Other periodic upkeep of the serving process (each decides when it is due).
        self.chores = tuple(chores)

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
        settings = self.settings
        shortest = min(settings.job_stale_seconds, settings.job_unclaimed_alert_seconds)
        interval = max(1.0, shortest / 6)
        reap = Reaper(self.factory, settings)
        while not self.stop_event.wait(interval):
            try:
                reap()
            except Exception:
                log.exception("job maintenance failed")
            try:
                self._alert_unclaimed()
            except Exception:
                log.exception("could not check for queued jobs no worker takes")
            for chore in self.chores:
                try:
                    chore()
                except Exception:
                    log.exception("maintenance chore %r failed", chore)

    def _alert_unclaimed(self) -> None:
        with transaction(self.factory) as session:
            alerted = service.alert_unclaimed(session, self.settings, list(TASKS))
        if not alerted:
            return
        advice = service.unclaimed_advice(self.settings)
        if self.settings.resolved_executor == "celery":
            from kombu.utils.url import maybe_sanitize_url

            broker = maybe_sanitize_url(self.settings.broker_url)
            advice += f" (broker {broker})"
        log.warning(
            "job(s) %s: no worker has taken them in %.0f s: %s",
            ", ".join(map(str, alerted)),
            self.settings.job_unclaimed_alert_seconds,
            advice,
        )
        if self.settings.resolved_executor == "celery":
            # In case their messages were lost (a broker restarted without persistence): a
            # message for a job another worker has already taken is skipped harmlessly.
            for job_id in alerted:
                self.executor.submit(job_id)

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        if self.supervisor is not None:
            self.supervisor.stop()
