"""Predictions on their way in: the server's bounded per-connection queue (batches, order,
backpressure) and the bridge's bounded outbox (drops counted per port, reported in a ping)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tinymlaas.devices import messages
from tinymlaas.devices.bridge.outbox import Outbox
from tinymlaas.devices.ingest import Received
from tinymlaas.devices.prediction_queue import PredictionQueue

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def prediction(port: str, seq: int) -> messages.Prediction:
    return messages.Prediction(port=port, seq=seq, label="cat", scores={"cat": 1.0})


def test_batches_keep_order_fill_up_to_their_size_and_a_full_queue_stops_the_reader() -> None:
    async def scenario() -> tuple[list[list[int]], int, bool]:
        stored: list[list[int]] = []
        gate = asyncio.Event()

        async def store(batch: list[Received]) -> None:
            await gate.wait()  # a slow database
            stored.append([r.message.seq for r in batch])

        queue = PredictionQueue(store, batch_size=4, flush_seconds=0.05, max_size=6)
        runner = asyncio.create_task(queue.run())
        for seq in range(10):  # four taken by the (blocked) first batch, six fill the queue
            await asyncio.wait_for(queue.put(Received(prediction("a", seq), NOW)), 1)
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.1)
        blocked = asyncio.create_task(queue.put(Received(prediction("a", 10), NOW)))
        await asyncio.sleep(0.1)
        was_blocked = not blocked.done()  # the reader waits: nothing more is read from the socket
        held = queue.queue.qsize()
        gate.set()
        await blocked
        await asyncio.wait_for(queue.drain(), 2)
        runner.cancel()
        return stored, held, was_blocked

    stored, held, was_blocked = asyncio.run(scenario())
    assert was_blocked
    assert held == 6
    assert [seq for batch in stored for seq in batch] == list(range(11))
    assert all(len(batch) <= 4 for batch in stored)
    assert max(len(batch) for batch in stored) == 4


def test_a_lone_prediction_is_stored_after_the_flush_interval_not_held_for_a_full_batch() -> None:
    async def scenario() -> float:
        stored = asyncio.Event()

        async def store(batch: list[Received]) -> None:
            stored.set()

        queue = PredictionQueue(store, batch_size=500, flush_seconds=0.05, max_size=10)
        runner = asyncio.create_task(queue.run())
        started = asyncio.get_running_loop().time()
        await queue.put(Received(prediction("a", 1), NOW))
        await asyncio.wait_for(stored.wait(), 2)
        runner.cancel()
        return asyncio.get_running_loop().time() - started

    assert 0.04 <= asyncio.run(scenario()) < 1.0


def test_a_full_outbox_drops_the_oldest_predictions_counts_them_and_keeps_other_messages() -> None:
    async def scenario() -> tuple[list[messages.Message], messages.Ping, messages.Ping]:
        outbox = Outbox(3)
        result = messages.InstallResult(job_id=1, ok=True, output="done")
        outbox.put(result)
        for seq in range(4):
            outbox.put(prediction("/dev/a", seq))
        outbox.put(prediction("/dev/b", 9))
        kept = [await outbox.get() for _ in range(len(outbox))]
        return kept, outbox.ping(), outbox.ping()

    kept, first, second = asyncio.run(scenario())
    assert kept[0] == messages.InstallResult(job_id=1, ok=True, output="done")
    assert [(m.port, m.seq) for m in kept[1:] if isinstance(m, messages.Prediction)] == [
        ("/dev/a", 3),
        ("/dev/b", 9),
    ]
    assert first.dropped == {"/dev/a": 3}
    assert messages.encode(second) == '{"type":"ping"}'  # nothing new: an old server's ping


def test_an_outbox_needs_room_for_one_message() -> None:
    with pytest.raises(ValueError, match="at least one message, not 0"):
        Outbox(0)


def test_a_bridge_time_ahead_of_the_server_counts_as_the_server_time() -> None:
    early = datetime(2026, 12, 1, 11, 59, 59, tzinfo=UTC)
    late = datetime(2026, 12, 1, 12, 0, 5, tzinfo=UTC)
    at = messages.Prediction(port="a", label="cat", scores={}, at=early)
    assert Received(at, NOW).ts == early
    assert Received(at.model_copy(update={"at": late}), NOW).ts == NOW
    assert Received(prediction("a", 1), NOW).ts == NOW  # an older bridge sends no time
