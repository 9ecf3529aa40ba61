"""The serving process's thread that advances model searches (see search/coordinator.py)."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from tinymlaas.config import Settings
from tinymlaas.search.coordinator import advance_all

log = logging.getLogger(__name__)


class SearchCoordinator:
    def __init__(self, settings: Settings, factory: sessionmaker[Session]) -> None:
        self.settings = settings
        self.factory = factory
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, daemon=True, name="search-coordinator")
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop_event.wait(self.settings.search_check_seconds):
            try:
                advance_all(self.factory, self.settings)
            except Exception:  # one bad step must not stop the searches
                log.exception("could not advance the model searches")

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
