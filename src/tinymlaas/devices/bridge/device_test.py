"""Testing a model on the board itself: int8 input tensors out, raw outputs and latency back.

The server sends the tensors, already preprocessed and quantized as training did; the bridge
streams them to the board one TENSOR frame at a time (stop and wait: a board's UART buffer
holds a few dozen bytes, so it cannot take the next image while it computes) and collects each
answer. An image the board answers with TERR is sent once more (the frame may have been
damaged on the way); an image it does not answer within the timeout is recorded as such.
A board that leaves UNANSWERED_LIMIT images in a row unanswered has stopped answering: the
bridge sends it nothing more and records each image left as `not_sent`, with that reason, so a
hung board ends its test in seconds rather than a timeout per image.
Nothing is skipped: there is one answer per tensor, in order.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from tinymlaas.devices import messages
from tinymlaas.devices.bridge.transports import (
    SerialTransport,
    Transport,
    TransportError,
    handshake,
)
from tinymlaas.hardware.serial_frames import TENSOR, StreamReader, encode_frame
from tinymlaas.hardware.serial_protocol import TensorError, TensorResult

AnswerStatus = Literal["ok", "timeout", "error", "not_sent"]
# Images in a row without an answer after which the board counts as hung. One lost frame or
# a reply cut by noise costs one timeout and the next image is answered again; five in a row
# (10 s at the default 2 s timeout) is a board that no longer runs its sketch, and waiting out
# the rest would cost a timeout for each of them (2,000 images: over an hour).
UNANSWERED_LIMIT = 5
# Images the server may still be sending: how long the runner waits for the next chunk.
CHUNK_WAIT_SECONDS = 60.0
CHUNK_POLL_SECONDS = 0.2
PROGRESS_SECONDS = 0.5


@dataclass(frozen=True)
class Answer:
    """What the board said about one tensor."""

    status: AnswerStatus
    scores: tuple[int, ...] = ()
    latency_us: int | None = None
    error: str | None = None


@dataclass
class TensorRun:
    """Every answer in order, the time the link took and the bytes sent."""

    answers: list[Answer] = field(default_factory=list)
    seconds: float = 0.0
    bytes_sent: int = 0
    stopped: bool = False


class TensorFeed:
    """The tensors of one test as the server's chunks bring them (thread-safe)."""

    def __init__(self, count: int, input_bytes: int) -> None:
        if count < 0 or input_bytes <= 0:
            raise ValueError("a test needs a count and a positive tensor size")
        self.count = count
        self.input_bytes = input_bytes
        self._chunks: queue.Queue[bytes] = queue.Queue()
        self._received = 0
        # Set by the server's `cancel_device_test`: no tensor is given after it.
        self.cancelled = threading.Event()

    def add(self, first: int, data: bytes) -> None:
        """Queue the tensors of one chunk; ValueError if out of order or not whole tensors."""
        if first != self._received or len(data) % self.input_bytes:
            raise ValueError(
                f"chunk at image {first} of {len(data)} bytes does not follow image"
                f" {self._received} in tensors of {self.input_bytes} bytes"
            )
        self._received += len(data) // self.input_bytes
        if self._received > self.count:
            raise ValueError(f"more than the {self.count} images announced")
        self._chunks.put(data)

    def tensors(self, stop: threading.Event) -> Iterator[bytes]:
        """Yield the tensors in order; stops early (TimeoutError) if the chunks stop coming."""
        given = 0
        while given < self.count and not self._ended(stop):
            chunk = self._next_chunk(stop)
            for start in range(0, len(chunk), self.input_bytes):
                if self._ended(stop):
                    return
                yield chunk[start : start + self.input_bytes]
                given += 1

    def _ended(self, stop: threading.Event) -> bool:
        return stop.is_set() or self.cancelled.is_set()

    def _next_chunk(self, stop: threading.Event) -> bytes:
        """The next chunk (b"" once stopped or cancelled meanwhile)."""
        deadline = time.monotonic() + CHUNK_WAIT_SECONDS
        while not self._ended(stop):
            try:
                return self._chunks.get(timeout=CHUNK_POLL_SECONDS)
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise TimeoutError("the server stopped sending the test images") from None
        return b""


def _wait_answer(transport: Transport, reader: StreamReader, seq: int, timeout: float) -> Answer:
    """Read until the board answers `seq`, or the timeout passes."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        for item in reader.feed(transport.read(remaining)):
            if isinstance(item, TensorResult) and item.seq == seq:
                return Answer("ok", item.scores, item.latency_us)
            if isinstance(item, TensorError) and item.seq == seq:
                return Answer("error", error=item.message)
    return Answer("timeout", error=f"no answer within {timeout:g} s")


def _send(
    transport: Transport,
    reader: StreamReader,
    seq: int,
    tensor: bytes,
    timeout: float,
    retries: int,
) -> tuple[Answer, int]:
    """Send one tensor (once more per TERR, up to `retries`): its answer and the bytes sent."""
    frame = encode_frame(TENSOR, seq, tensor)
    answer, sent = Answer("timeout"), 0
    for _ in range(retries + 1):
        try:
            transport.write(frame)
        except TransportError as error:
            return Answer("error", error=str(error)), sent
        sent += len(frame)
        answer = _wait_answer(transport, reader, seq, timeout)
        if answer.status != "error":
            break
    return answer, sent


def _hung_reason(before: int) -> str:
    """Why the images after a hang were not sent; `before`: images sent before the silence."""
    silence = f"{UNANSWERED_LIMIT} images in a row without an answer, the rest not sent"
    if before == 0:
        return f"the board never answered ({silence})"
    return f"the board stopped answering after image {before} ({silence})"


def stream_tensors(
    transport: Transport,
    tensors: Iterator[bytes],
    timeout: float,
    stop: threading.Event,
    progress: Callable[[int], None],
    retries: int = 1,
) -> TensorRun:
    """Send each tensor, wait for its answer; one answer per tensor whatever happens. After
    UNANSWERED_LIMIT timeouts in a row the rest are not sent, each recorded as `not_sent`."""
    reader = StreamReader(max_payload=0)
    run = TensorRun()
    started = time.monotonic()
    unanswered = 0
    hung: Answer | None = None
    for seq, tensor in enumerate(tensors):
        if stop.is_set():
            run.stopped = True
            break
        if hung is not None:
            answer = hung
        else:
            answer, sent = _send(transport, reader, seq, tensor, timeout, retries)
            run.bytes_sent += sent
            unanswered = unanswered + 1 if answer.status == "timeout" else 0
            if unanswered >= UNANSWERED_LIMIT:
                hung = Answer("not_sent", error=_hung_reason(seq + 1 - UNANSWERED_LIMIT))
        run.answers.append(answer)
        progress(len(run.answers))
    run.seconds = time.monotonic() - started
    return run


def _cancelled(job_id: int, answered: int, count: int) -> messages.DeviceTestResult:
    error = f"cancelled: {answered} of {count} images answered"
    return messages.DeviceTestResult(
        job_id=job_id, ok=False, error=error, cancelled=True, answered=answered
    )


def run_device_test(
    port: str,
    request: messages.DeviceTest,
    feed: TensorFeed,
    emit: Callable[[messages.Message], None],
    stop: threading.Event,
) -> messages.DeviceTestResult:
    """Run a whole `device_test` on the board at `port` (its reader has let go of it)."""
    job_id = request.job_id

    def failed(error: str) -> messages.DeviceTestResult:
        return messages.DeviceTestResult(job_id=job_id, ok=False, error=error)

    last_report = 0.0

    def progress(done: int) -> None:
        nonlocal last_report
        if time.monotonic() - last_report >= PROGRESS_SECONDS or done == request.count:
            last_report = time.monotonic()
            emit(messages.DeviceTestProgress(job_id=job_id, done=done, total=request.count))

    transport = SerialTransport(port)
    try:
        transport.open()
        hello = handshake(transport)
        if hello is None:
            return failed(f"the board on {port} does not answer PING")
        if hello.protocol < 2:
            return failed(
                f"the board on {port} speaks serial protocol version {hello.protocol}, which"
                " has no TENSOR frame: install the model again to update its sketch"
            )
        if hello.model_id != request.model_id:
            return failed(
                f"the board runs model {hello.model_id[:12]}, not the one to test"
                f" ({request.model_id[:12]}): install it first"
            )
        tensors = feed.tensors(stop)
        run = stream_tensors(transport, tensors, request.timeout_ms / 1000, stop, progress)
    except (TransportError, TimeoutError) as error:
        return failed(str(error))
    finally:
        transport.close()
    if run.stopped:
        return failed("the bridge stopped during the test")
    if feed.cancelled.is_set():
        return _cancelled(job_id, len(run.answers), request.count)
    answers = [
        messages.DeviceTestAnswer(
            status=answer.status,
            scores=list(answer.scores),
            latency_us=answer.latency_us,
            error=answer.error,
        )
        for answer in run.answers
    ]
    return messages.DeviceTestResult(
        job_id=job_id, ok=True, answers=answers, seconds=run.seconds, bytes_sent=run.bytes_sent
    )
