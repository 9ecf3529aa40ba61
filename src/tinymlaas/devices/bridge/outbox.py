"""The bridge's messages waiting for the server, in order, and never more than a bound.

While the server is slow (it stopped reading: backpressure) or unreachable, messages wait
here. When the box is full the oldest prediction makes room, counted per port; the counts go
to the server in the next `ping` (`dropped`). Other messages (install results, hellos) are
dropped only when nothing but them is waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque

from tinymlaas.devices import messages

log = logging.getLogger(__name__)


class Outbox:
    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"an outbox holds at least one message, not {size}")
        self.size = size
        self.items: deque[messages.Message] = deque()
        self.ready = asyncio.Event()
        self.dropped: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self.items)

    def put(self, message: messages.Message) -> None:
        """Queue a message last, making room first if the box is full."""
        if len(self.items) >= self.size:
            self._make_room()
        self.items.append(message)
        self.ready.set()

    def put_back(self, message: messages.Message) -> None:
        """A message whose sending failed goes first after the reconnect."""
        self.items.appendleft(message)
        if len(self.items) > self.size:
            self.items.pop()
        self.ready.set()

    async def get(self) -> messages.Message:
        while not self.items:
            self.ready.clear()
            await self.ready.wait()
        return self.items.popleft()

    def ping(self) -> messages.Ping:
        """A ping reporting the predictions dropped per port since the previous one."""
        dropped = dict(self.dropped)
        self.dropped.clear()
        if not dropped:
            return messages.Ping()
        log.warning("dropped predictions (the server was slow or away): %s", dropped)
        return messages.Ping(dropped=dropped)

    def give_back_dropped(self, dropped: dict[str, int]) -> None:
        """Counts that could not be reported (the ping failed): reported with the next one."""
        self.dropped.update(dropped)

    def _make_room(self) -> None:
        for index, item in enumerate(self.items):
            if isinstance(item, messages.Prediction):
                del self.items[index]
                self.dropped[item.port] += 1
                return
        oldest = self.items.popleft()
        log.warning("outbox full of other messages: dropped a %s", type(oldest).__name__)
