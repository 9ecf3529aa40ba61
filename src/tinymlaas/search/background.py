"""The serving process's thread that advances model searches (see search/coordinator.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from tinymlaas.config import Settings
from tinymlaas.search.coordinator import advance_all

log = logging.getLogger(__name__)


FollowUp = Callable[[sessionmaker[Session]], object]


class SearchCoordinator:
    """Every `search_check_seconds`: a step of each unfinished search, then each follow-up
    (what the layers above hang on search results: the installs deploys wait for)."""

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        follow_ups: Sequence[FollowUp] = (),
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.follow_ups = tuple(follow_ups)
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._loop, daemon=True, name="search-coordinator")
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop_event.wait(self.settings.search_check_seconds):
            try:
                advance_all(self.factory, self.settings)
                for follow_up in self.follow_ups:
                    follow_up(self.factory)
            except Exception:  # one bad step must not stop the searches
                log.exception("could not advance the model searches")

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
