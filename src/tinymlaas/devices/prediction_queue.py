"""One bridge connection's predictions on their way to the database (API process).

The receiving loop puts each prediction here and goes on reading; one task takes what has
arrived — up to `observation_batch_size`, waiting at most `observation_flush_ms` after the
first — and stores it in one transaction. Batches are stored one after another, so each
device's predictions keep their order. The queue holds at most `observation_queue_size`: when
it is full, `put` waits, the connection stops reading the bridge's socket, and TCP pushes
back on the bridge (which buffers a bounded amount and reports what it drops).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from tinymlaas.db.session import UNREACHABLE
from tinymlaas.devices.ingest import Received

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0


class PredictionQueue:
    def __init__(
        self,
        store: Callable[[list[Received]], Awaitable[None]],
        batch_size: int,
        flush_seconds: float,
        max_size: int,
    ) -> None:
        self.store = store
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        # Each prediction with when it was queued (the event loop's clock).
        self.queue: asyncio.Queue[tuple[float, Received]] = asyncio.Queue(maxsize=max_size)

    async def put(self, received: Received) -> None:
        """Queue a prediction; waits while the queue is full (backpressure)."""
        await self.queue.put((asyncio.get_running_loop().time(), received))

    async def drain(self) -> None:
        """Wait until everything queued so far is stored (before a message that must follow)."""
        await self.queue.join()

    async def run(self) -> None:
        """Store batches until cancelled."""
        while True:
            batch = await self._next_batch()
            try:
                await self._store(batch)
            finally:
                for _ in batch:
                    self.queue.task_done()

    async def _next_batch(self) -> list[Received]:
        """What has arrived, up to a batch; waits for more only until the oldest of it has
        waited `flush_seconds` (under load, while a batch is written the next one fills)."""
        queued_at, first = await self.queue.get()
        batch = [first]
        loop = asyncio.get_running_loop()
        deadline = queued_at + self.flush_seconds
        while len(batch) < self.batch_size:
            if not self.queue.empty():
                batch.append(self.queue.get_nowait()[1])
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    batch.append((await self.queue.get())[1])
            except TimeoutError:
                break
        return batch

    async def _store(self, batch: list[Received]) -> None:
        """Store a batch, again while the database is unreachable; other errors drop it."""
        while True:
            try:
                await self.store(batch)
                return
            except UNREACHABLE:
                log.warning("database unreachable: %s predictions wait", len(batch))
                await asyncio.sleep(RETRY_SECONDS)
            except Exception:
                log.exception("could not store %s predictions", len(batch))
                return
