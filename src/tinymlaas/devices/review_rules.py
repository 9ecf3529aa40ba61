"""Which predictions of a device go to review: the capture rule's decision (pure).

A prediction is kept when its top score is below `below_score`, when its top two scores are
within `margin`, or as one of about `sample_per_hour` random picks an hour; and only while the
device has kept fewer than `max_per_hour` frames this (UTC clock) hour and the dataset's queue
holds fewer than its total cap. Nothing here reads a clock or a database: the caller passes the time
(seconds on any steady clock), the counts and a random generator, so tests replay any hour.

Random sampling splits the hour into `sample_per_hour` equal slots and keeps the first
prediction after a random moment of each slot: at most that many an hour, spread over it,
whatever the board's prediction rate.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

HOUR_SECONDS = 3600.0
KeptReason = Literal["below_score", "margin", "sample"]
DroppedReason = Literal["disabled", "confident", "no_scores", "hourly_cap", "queue_full"]


@dataclass(frozen=True)
class Rule:
    """A device's capture rule, as stored."""

    below_score: float | None = None
    margin: float | None = None
    sample_per_hour: int | None = None
    max_per_hour: int = 60
    enabled: bool = True


@dataclass(frozen=True)
class Counts:
    """What was kept already: by this device this hour (reviewed since or not), and waiting in
    the queue."""

    kept_this_hour: int
    queued: int
    queue_max: int


@dataclass(frozen=True)
class SampleSlot:
    """One device's random-sampling state: the current slot and whether its pick happened."""

    per_hour: int
    start: float
    pick_at: float
    taken: bool = False


@dataclass(frozen=True)
class Decision:
    """Keep or not, why, and how doubtful the prediction was (higher is reviewed first)."""

    keep: bool
    reason: KeptReason | DroppedReason
    uncertainty: float
    top_score: float
    runner_up: float


def uncertainty_of(scores: Mapping[str, float]) -> tuple[float, float, float]:
    """(uncertainty, top score, second score): uncertainty is 1 − (top − second), in [0, 1]."""
    ordered = sorted((float(score) for score in scores.values()), reverse=True)
    top = ordered[0] if ordered else 0.0
    second = ordered[1] if len(ordered) > 1 else 0.0
    return min(1.0, max(0.0, 1.0 - (top - second))), top, second


def next_slot(per_hour: int, slot: SampleSlot | None, now: float, rng: random.Random) -> SampleSlot:
    """The sampling slot `now` falls in (a new one, with a new random pick, when it moved on)."""
    length = HOUR_SECONDS / per_hour
    if slot is not None and slot.per_hour == per_hour and now < slot.start + length:
        return slot
    if slot is None or slot.per_hour != per_hour or now < slot.start:
        start = now
    else:
        start = slot.start + length * math.floor((now - slot.start) / length)
    return SampleSlot(per_hour=per_hour, start=start, pick_at=start + rng.random() * length)


def _reason(
    rule: Rule, top: float, second: float, now: float, slot: SampleSlot | None, rng: random.Random
) -> tuple[KeptReason | None, SampleSlot | None]:
    """Why the rule keeps the prediction (before the caps), or None."""
    if rule.below_score is not None and top < rule.below_score:
        return "below_score", slot
    if rule.margin is not None and top - second <= rule.margin:
        return "margin", slot
    if rule.sample_per_hour:
        slot = next_slot(rule.sample_per_hour, slot, now, rng)
        if not slot.taken and now >= slot.pick_at:
            return "sample", replace(slot, taken=True)
    return None, slot


def decide(
    rule: Rule,
    scores: Mapping[str, float],
    now: float,
    counts: Counts,
    slot: SampleSlot | None,
    rng: random.Random,
) -> tuple[Decision, SampleSlot | None]:
    """Whether to keep a prediction's frame, and the device's sampling state afterwards."""
    uncertainty, top, second = uncertainty_of(scores)

    def decision(keep: bool, reason: KeptReason | DroppedReason) -> Decision:
        return Decision(keep, reason, uncertainty, top, second)

    if not rule.enabled:
        return decision(False, "disabled"), slot
    if not scores:
        return decision(False, "no_scores"), slot
    reason, slot = _reason(rule, top, second, now, slot, rng)
    if reason is None:
        return decision(False, "confident"), slot
    if counts.kept_this_hour >= rule.max_per_hour:
        return decision(False, "hourly_cap"), slot
    if counts.queued >= counts.queue_max:
        return decision(False, "queue_full"), slot
    return decision(True, reason), slot
