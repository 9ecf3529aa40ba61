"""Doubtful predictions to review, on one bridge connection (API process).

For each prediction a device with an enabled capture rule sends, the rule decides
(`review_rules.decide`) whether to keep its frame; if so the server asks the bridge for that
frame (`fetch_frame`) and remembers the request. A `review_frame` answering a request is
vetted — never trusting the bridge: only frames asked for, base64 within the size limit, an
image that decodes within the pixel limit, and the caps checked again — then queued in the
rule's dataset. Frames not asked for, late or rejected are dropped and logged; the connection
stays up. What the rule kept, what the caps dropped and which frames failed the checks are
counted per device and hour (`review_counts`, in the transaction that queues the frame): the
hourly cap reads those counts, so reviewing the queue never makes room for more.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from tinymlaas.blobs import DatabaseBlobStore
from tinymlaas.config import Settings
from tinymlaas.datasets import review, review_repository
from tinymlaas.db.session import transaction
from tinymlaas.devices import capture_rules, messages, repository, review_counts
from tinymlaas.devices.capturing.relay import FrameRejected, frame_png
from tinymlaas.devices.review_rules import Counts, Decision, SampleSlot, decide
from tinymlaas.errors import TinyMLaaSError
from tinymlaas.models import Bridge

log = logging.getLogger(__name__)
# A frame asked for and not answered within this long is forgotten (and no longer accepted).
PENDING_SECONDS = 30.0
MAX_PENDING = 100
# The decisions that drop a doubtful prediction, as counted.
DROPPED: dict[str, review_counts.Outcome] = {
    "hourly_cap": "dropped_hourly_cap",
    "queue_full": "dropped_queue_full",
}


@dataclass(frozen=True)
class Pending:
    """A frame asked of the bridge: the prediction it belongs to and why it was kept."""

    device_id: int
    dataset_id: int
    compiled_id: int | None
    label: str
    scores: dict[str, float]
    decision: Decision
    asked_at: float


class ReviewCapture:
    """The review side of one bridge connection."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        bridge_id: int,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.factory = factory
        self.bridge_id = bridge_id
        self.queue_max = settings.review_queue_max
        self.max_pixels = settings.max_image_pixels
        self.max_frame_bytes = settings.max_review_frame_bytes
        self.clock = clock
        self.rng = rng or random.Random()
        self.slots: dict[int, SampleSlot | None] = {}
        self.pending: dict[tuple[str, int], Pending] = {}

    @staticmethod
    def concerns(message: messages.BridgeMessage, features: Collection[str] | None) -> bool:
        """Whether `handle` has anything to do with the message (no database round trip)."""
        if isinstance(message, messages.Prediction):
            return features is not None and messages.FETCH_FRAME in features
        return isinstance(message, messages.ReviewFrame | messages.FrameUnavailable)

    def handle(
        self, message: messages.BridgeMessage, features: Collection[str] | None
    ) -> messages.FetchFrame | None:
        """The review part of a bridge's message; the frame request to send back, if any."""
        match message:
            case messages.Prediction() if features and messages.FETCH_FRAME in features:
                return self.consider(message)
            case messages.ReviewFrame():
                self.receive(message)
            case messages.FrameUnavailable():
                pending = self.pending.pop((message.port, message.seq), None)
                if pending is not None:
                    log.info(
                        "bridge %s: no frame for %s seq %s: %s",
                        self.bridge_id,
                        message.port,
                        message.seq,
                        message.detail,
                    )
        return None

    def _forget_stale(self, now: float) -> None:
        for key, pending in list(self.pending.items()):
            if now - pending.asked_at > PENDING_SECONDS:
                del self.pending[key]

    def _pending_of(self, device_id: int) -> int:
        return sum(1 for pending in self.pending.values() if pending.device_id == device_id)

    def consider(self, message: messages.Prediction) -> messages.FetchFrame | None:
        """Apply the device's capture rule; a frame request when the prediction is kept."""
        now = self.clock()
        self._forget_stale(now)
        if len(self.pending) >= MAX_PENDING:
            return None
        moment = review_counts.now()
        with transaction(self.factory) as session:
            bridge = session.get(Bridge, self.bridge_id)
            device = repository.device_on_port(session, self.bridge_id, message.port)
            if bridge is None or device is None:
                return None
            rule = capture_rules.rule_of(session, device.id)
            if rule is None or not rule.enabled:
                return None
            counts = Counts(
                kept_this_hour=review_counts.kept_in_hour(session, device.id, moment)
                + self._pending_of(device.id),
                queued=review_repository.count_queued(session, rule.dataset_id)
                + sum(1 for p in self.pending.values() if p.dataset_id == rule.dataset_id),
                queue_max=self.queue_max,
            )
            decision, self.slots[device.id] = decide(
                capture_rules.as_rule(rule),
                message.scores,
                now,
                counts,
                self.slots.get(device.id),
                self.rng,
            )
            if decision.reason in DROPPED:
                review_counts.count(session, device.id, moment, DROPPED[decision.reason])
            if not decision.keep:
                return None
            self.pending[(message.port, message.seq)] = Pending(
                device_id=device.id,
                dataset_id=rule.dataset_id,
                compiled_id=capture_rules.running_compiled_id(session, device),
                label=message.label,
                scores=dict(message.scores),
                decision=decision,
                asked_at=now,
            )
        return messages.FetchFrame(port=message.port, seq=message.seq)

    def receive(self, message: messages.ReviewFrame) -> None:
        """Queue a frame that answers a request, once it passes every check."""
        pending = self.pending.pop((message.port, message.seq), None)
        where = f"bridge {self.bridge_id} {message.port} seq {message.seq}"
        if pending is None or self.clock() - pending.asked_at > PENDING_SECONDS:
            log.warning("%s: dropped a review frame that was not asked for (or came late)", where)
            return
        data = self._decode(message.png, where)
        if data is not None and self._queue(pending, message.seq, data, where):
            return
        with transaction(self.factory) as session:
            review_counts.count(session, pending.device_id, review_counts.now(), "rejected")

    def _queue(self, pending: Pending, seq: int, data: bytes, where: str) -> bool:
        """Queue the frame, or drop it under a cap; False when its bytes are no image."""
        try:
            with transaction(self.factory) as session:
                self._store(session, pending, seq, data, where)
        except TinyMLaaSError as error:
            log.warning("%s: dropped a review frame: %s", where, error.detail)
            return False
        return True

    def _decode(self, text: str, where: str) -> bytes | None:
        try:
            return frame_png(text, self.max_frame_bytes)
        except FrameRejected as error:
            log.warning("%s: dropped a review frame: %s", where, error)
            return None

    def _store(self, session: Session, pending: Pending, seq: int, data: bytes, where: str) -> None:
        rule = capture_rules.rule_of(session, pending.device_id)
        if rule is None or not rule.enabled or rule.dataset_id != pending.dataset_id:
            log.info("%s: the capture rule changed meanwhile; frame dropped", where)
            return
        moment = review_counts.now()
        if review_counts.kept_in_hour(session, pending.device_id, moment) >= rule.max_per_hour:
            log.info("%s: hourly cap of %s reached; frame dropped", where, rule.max_per_hour)
            review_counts.count(session, pending.device_id, moment, "dropped_hourly_cap")
            return
        if review_repository.count_queued(session, rule.dataset_id) >= self.queue_max:
            log.info("%s: review queue full (%s); frame dropped", where, self.queue_max)
            review_counts.count(session, pending.device_id, moment, "dropped_queue_full")
            return
        frame = review.KeptFrame(
            dataset_id=rule.dataset_id,
            device_id=pending.device_id,
            compiled_id=pending.compiled_id,
            seq=seq,
            label=pending.label,
            scores=pending.scores,
            uncertainty=pending.decision.uncertainty,
            reason=pending.decision.reason,
            data=data,
        )
        review.add_item(session, DatabaseBlobStore(session), frame, self.max_pixels)
        review_counts.count(session, pending.device_id, moment, "kept")
