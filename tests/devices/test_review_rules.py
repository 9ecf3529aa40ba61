"""The capture rule's decision: thresholds, margin, hourly sampling and the caps."""

from __future__ import annotations

import random

import pytest

from tinymlaas.devices.review_rules import (
    HOUR_SECONDS,
    Counts,
    Rule,
    SampleSlot,
    decide,
    uncertainty_of,
)

ROOM = Counts(kept_this_hour=0, queued=0, queue_max=1000)


def keep(rule: Rule, scores: dict[str, float], counts: Counts = ROOM) -> tuple[bool, str]:
    decision, _ = decide(rule, scores, 0.0, counts, None, random.Random(0))
    return decision.keep, decision.reason


def test_a_top_score_below_the_threshold_is_kept_and_one_at_it_is_not() -> None:
    rule = Rule(below_score=0.6)
    assert keep(rule, {"cat": 0.59, "dog": 0.41}) == (True, "below_score")
    assert keep(rule, {"cat": 0.6, "dog": 0.4}) == (False, "confident")


def test_the_top_two_within_the_margin_are_kept() -> None:
    rule = Rule(margin=0.1)
    assert keep(rule, {"a": 0.5, "b": 0.42, "c": 0.08}) == (True, "margin")
    assert keep(rule, {"a": 0.7, "b": 0.2, "c": 0.1}) == (False, "confident")


def test_uncertainty_is_one_minus_the_gap_between_the_top_two() -> None:
    assert uncertainty_of({"a": 0.5, "b": 0.5}) == (1.0, 0.5, 0.5)
    assert uncertainty_of({"a": 0.9, "b": 0.1})[0] == pytest.approx(0.2)
    assert uncertainty_of({"only": 1.0}) == (0.0, 1.0, 0.0)
    decision, _ = decide(
        Rule(below_score=0.9), {"a": 0.6, "b": 0.3}, 0, ROOM, None, random.Random()
    )
    assert decision.uncertainty == pytest.approx(0.7)


def test_a_disabled_rule_or_missing_scores_keep_nothing() -> None:
    assert keep(Rule(below_score=1.0, enabled=False), {"a": 0.1, "b": 0.1}) == (False, "disabled")
    assert keep(Rule(below_score=1.0), {}) == (False, "no_scores")


def test_the_hourly_cap_and_the_queue_cap_stop_keeping() -> None:
    rule = Rule(below_score=0.9, max_per_hour=5)
    doubtful = {"a": 0.5, "b": 0.5}
    assert keep(rule, doubtful, Counts(4, 0, 10)) == (True, "below_score")
    assert keep(rule, doubtful, Counts(5, 0, 10)) == (False, "hourly_cap")
    assert keep(rule, doubtful, Counts(0, 10, 10)) == (False, "queue_full")
    assert keep(rule, doubtful, Counts(0, 9, 10)) == (True, "below_score")


def sampled_times(per_hour: int, seed: int, hours: float, step: float) -> list[float]:
    """When a rule sampling `per_hour` keeps confident predictions arriving every `step` s."""
    rule = Rule(sample_per_hour=per_hour, max_per_hour=10_000)
    rng, slot, kept = random.Random(seed), None, []
    now = 1000.0  # any steady clock: only differences count
    while now < 1000.0 + hours * HOUR_SECONDS:
        decision, slot = decide(rule, {"a": 0.99, "b": 0.01}, now, ROOM, slot, rng)
        if decision.keep:
            assert decision.reason == "sample"
            kept.append(now - 1000.0)
        now += step
    return kept


@pytest.mark.parametrize("step", [0.05, 1.0])
def test_sampling_keeps_n_an_hour_spread_over_it_whatever_the_rate(step: float) -> None:
    kept = sampled_times(per_hour=6, seed=3, hours=3, step=step)
    assert len(kept) == 18
    for hour in range(3):
        in_hour = [t for t in kept if hour * HOUR_SECONDS <= t < (hour + 1) * HOUR_SECONDS]
        assert len(in_hour) == 6
    # One in each ten-minute slot.
    assert sorted({int(t // 600) for t in kept}) == list(range(18))


def test_a_slow_device_is_sampled_at_most_n_an_hour() -> None:
    # A pick that falls after a slot's last prediction is lost, never carried over.
    kept = sampled_times(per_hour=6, seed=3, hours=3, step=30.0)
    assert 15 <= len(kept) <= 18
    assert all(len({t for t in kept if int(t // 600) == slot}) <= 1 for slot in range(18))


def test_sampling_is_reproducible_with_a_seeded_generator_and_random_within_slots() -> None:
    assert sampled_times(4, seed=11, hours=1, step=1) == sampled_times(4, seed=11, hours=1, step=1)
    assert sampled_times(4, seed=11, hours=1, step=1) != sampled_times(4, seed=12, hours=1, step=1)


def test_a_quiet_device_loses_the_picks_of_slots_it_sent_nothing_in() -> None:
    rule = Rule(sample_per_hour=2, max_per_hour=100)
    rng = random.Random(1)
    decision, slot = decide(rule, {"a": 1.0}, 0.0, ROOM, None, rng)
    assert isinstance(slot, SampleSlot)
    # Silent until 2.5 slots later: the next prediction falls in the third slot.
    later = 2.5 * HOUR_SECONDS / 2
    _, moved = decide(rule, {"a": 1.0}, later, ROOM, slot, rng)
    assert moved is not None
    assert moved.start == pytest.approx(2 * HOUR_SECONDS / 2)
    assert moved.start <= moved.pick_at < moved.start + HOUR_SECONDS / 2


def test_a_sample_counts_against_the_hourly_cap() -> None:
    rule = Rule(sample_per_hour=60, max_per_hour=3)
    rng, slot = random.Random(5), None
    kept, now = 0, 0.0
    for _ in range(3600):
        counts = Counts(kept_this_hour=kept, queued=0, queue_max=1000)
        decision, slot = decide(rule, {"a": 0.99, "b": 0.01}, now, counts, slot, rng)
        kept += decision.keep
        now += 1
    assert kept == 3
