"""Successive halving and the Pareto front over a search's candidates (pure).

Rung 0 trains every candidate for `first_epochs`; after each rung the best third (rounded up)
continue, each training to three times the epochs of the rung before, until one is left, the
epoch cap is reached, or the next rung would not finish inside the time budget. Then the best
alone goes on (`extension_epochs`) for as many epochs as the rest of the budget holds at its
own pace — up to the next rung's epochs, never over the cap — so the budget the user gave is
spent on the model they get, and a little is kept for its compile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Objective = Literal["accuracy", "accuracy_per_ms"]
ETA = 3
MAX_EPOCHS = 60


@dataclass(frozen=True)
class Result:
    """A trained candidate as the ranking sees it."""

    id: int
    accuracy: float
    ram_bytes: int
    latency_ms: float | None
    macs: int


def rung_epochs(first_epochs: int, rung: int) -> int:
    """Epochs a candidate has trained in all once it finishes `rung`."""
    return int(first_epochs * ETA**rung)


def score(result: Result, objective: Objective) -> float:
    """Higher is better: validation accuracy, or accuracy per estimated millisecond (per
    million MACs on a board without a clock)."""
    if objective == "accuracy":
        return result.accuracy
    cost = result.latency_ms if result.latency_ms is not None else result.macs / 1e6
    return result.accuracy / max(cost, 1e-6)


def ranked(results: Sequence[Result], objective: Objective) -> list[Result]:
    """Best first; ties go to the smaller RAM, then the lower id (deterministic)."""
    return sorted(results, key=lambda item: (-score(item, objective), item.ram_bytes, item.id))


def survivors(results: Sequence[Result], objective: Objective) -> list[Result]:
    """The best third (rounded up) of a finished rung."""
    keep = math.ceil(len(results) / ETA)
    return ranked(results, objective)[:keep]


def next_rung_fits(
    *,
    rung_seconds: float,
    rung_epochs_trained: int,
    next_epochs_to_train: int,
    elapsed_seconds: float,
    budget_seconds: float,
) -> bool:
    """Whether the next rung should finish inside the budget, at the pace of the last one
    (its wall time per epoch trained, whatever number of workers ran it)."""
    if rung_epochs_trained <= 0:
        return False
    expected = rung_seconds / rung_epochs_trained * next_epochs_to_train
    return elapsed_seconds + expected <= budget_seconds


def should_continue(count: int, first_epochs: int, rung: int, max_epochs: int = MAX_EPOCHS) -> bool:
    """More than one candidate is left and the next rung stays under the epoch cap."""
    return count > 1 and rung_epochs(first_epochs, rung + 1) <= max_epochs


def compile_reserve(budget_seconds: float) -> float:
    """Seconds of the budget an extension leaves for compiling the recommendation."""
    return min(max(30.0, 0.05 * budget_seconds), 0.25 * budget_seconds)


def extension_epochs(
    *,
    epochs_trained: int,
    target_epochs: int,
    max_epochs: int,
    seconds_per_epoch: float,
    elapsed_seconds: float,
    budget_seconds: float,
) -> int:
    """Epochs the best candidate alone trains next: towards `target_epochs` (the next rung's)
    and the cap, as many as end inside the budget less the compile's reserve; 0 for none."""
    wanted = min(target_epochs, max_epochs) - epochs_trained
    if wanted <= 0 or seconds_per_epoch <= 0:
        return 0
    left = budget_seconds - compile_reserve(budget_seconds) - elapsed_seconds
    return max(0, min(wanted, int(left // seconds_per_epoch)))


def pareto_front(results: Sequence[Result]) -> list[int]:
    """Ids of the results no other beats on every axis: higher accuracy, less RAM, lower
    latency (MACs where there is no latency), in order of RAM."""

    def cost(item: Result) -> float:
        return item.latency_ms if item.latency_ms is not None else float(item.macs)

    front = []
    for item in results:
        dominated = any(
            other.accuracy >= item.accuracy
            and other.ram_bytes <= item.ram_bytes
            and cost(other) <= cost(item)
            and (
                other.accuracy > item.accuracy
                or other.ram_bytes < item.ram_bytes
                or cost(other) < cost(item)
            )
            for other in results
        )
        if not dominated:
            front.append(item)
    return [item.id for item in sorted(front, key=lambda item: (item.ram_bytes, item.id))]
