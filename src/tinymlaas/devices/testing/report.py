"""What a device test shows: the board's accuracy and its agreement with the host (pure).

Every image counts: one the board did not answer (timeout), refused (error) or was not sent
because the board had stopped answering (not_sent) is a wrong prediction and a disagreement
with the host, never left out of a figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel

# How many disagreeing images the report lists (the counts cover them all).
MAX_LISTED = 200
NO_ANSWER = "no answer"


class ClassRow(BaseModel):
    label: str
    images: int
    device_correct: int
    device_accuracy: float | None
    host_accuracy: float | None


class Latency(BaseModel):
    p50: float | None
    p95: float | None
    max: float | None


class Agreement(BaseModel):
    top1: float | None  # the board's top-1 equals the host's
    scores_within_one_step: float | None  # raw outputs within one quantization step
    identical_outputs: float | None  # every raw output equal


class Disagreement(BaseModel):
    index: int
    image_id: int
    label: str
    device: str  # the board's top-1, or "no answer"
    host: str
    status: str
    error: str | None = None


class DeviceTestReport(BaseModel):
    images: int
    answered: int
    timeouts: int
    errors: int
    not_sent: int = 0
    # Why the bridge stopped sending before the last image (the board stopped answering).
    stopped: str | None = None
    device_accuracy: float | None
    host_accuracy: float | None
    per_class: list[ClassRow]
    # Rows: the true label; columns: the board's top-1, then "no answer".
    confusion_labels: list[str]
    confusion: list[list[int]]
    agreement: Agreement
    latency_us: Latency
    seconds: float
    images_per_second: float | None
    bytes_per_image: float | None
    disagreements: list[Disagreement]
    disagreement_count: int


def _fraction(count: float, total: int) -> float | None:
    return round(float(count) / total, 6) if total else None


def _top(scores: Sequence[int]) -> int:
    """The first maximum, as the sketch and numpy take it."""
    return int(np.argmax(scores))


@dataclass
class _Tally:
    """The counts a report is made of, image by image."""

    classes: Sequence[str]
    confusion: np.ndarray
    host_correct: np.ndarray
    agree: int = 0
    within: int = 0
    identical: int = 0
    latencies: list[int] = field(default_factory=list)
    disagreements: list[Disagreement] = field(default_factory=list)

    def add(
        self, index: int, image_id: int, label: int, host: Sequence[int], answer: dict[str, Any]
    ) -> None:
        width = len(self.classes)
        host_top = _top(host)
        self.host_correct[label] += host_top == label
        scores = answer.get("scores") or []
        ok = answer.get("status") == "ok" and len(scores) == width
        device_top = _top(scores) if ok else width
        self.confusion[label, device_top] += 1
        if ok:
            self.latencies.append(int(answer.get("latency_us") or 0))
            difference = np.abs(np.asarray(scores, np.int64) - np.asarray(host, np.int64))
            self.within += int(np.sum(difference <= 1))
            self.identical += int(not difference.any())
            if device_top == host_top:
                self.agree += 1
                return
        self.disagreements.append(
            Disagreement(
                index=index,
                image_id=image_id,
                label=self.classes[label],
                device=self.classes[device_top] if ok else NO_ANSWER,
                host=self.classes[host_top],
                status="ok" if ok else str(answer.get("status")),
                error=None if ok else answer.get("error"),
            )
        )


def build_report(
    classes: Sequence[str],
    labels: Sequence[int],
    image_ids: Sequence[int],
    host: Sequence[Sequence[int]],
    answers: Sequence[dict[str, Any]],
    seconds: float,
    bytes_sent: int,
) -> DeviceTestReport:
    """Compare the board's answers with the truth and with the host's int8 outputs."""
    total, width = len(labels), len(classes)
    if not (len(image_ids) == len(host) == len(answers) == total):
        raise ValueError("labels, images, host outputs and answers must be as many")
    tally = _Tally(
        classes,
        np.zeros((width, width + 1), dtype=np.int64),
        np.zeros(width, dtype=np.int64),
    )
    for index in range(total):
        tally.add(index, image_ids[index], labels[index], host[index], answers[index])
    confusion = tally.confusion
    per_class_images = confusion.sum(axis=1)
    answered = len(tally.latencies)
    timeouts = sum(answer.get("status") == "timeout" for answer in answers)
    unsent = [answer for answer in answers if answer.get("status") == "not_sent"]
    return DeviceTestReport(
        images=total,
        answered=answered,
        timeouts=timeouts,
        errors=total - answered - timeouts - len(unsent),
        not_sent=len(unsent),
        stopped=unsent[0].get("error") if unsent else None,
        device_accuracy=_fraction(int(np.trace(confusion[:, :width])), total),
        host_accuracy=_fraction(int(tally.host_correct.sum()), total),
        per_class=[
            ClassRow(
                label=name,
                images=int(per_class_images[i]),
                device_correct=int(confusion[i, i]),
                device_accuracy=_fraction(int(confusion[i, i]), int(per_class_images[i])),
                host_accuracy=_fraction(int(tally.host_correct[i]), int(per_class_images[i])),
            )
            for i, name in enumerate(classes)
        ],
        confusion_labels=[*classes, NO_ANSWER],
        confusion=confusion.tolist(),
        agreement=Agreement(
            top1=_fraction(tally.agree, total),
            scores_within_one_step=_fraction(tally.within, total * width),
            identical_outputs=_fraction(tally.identical, total),
        ),
        latency_us=_latency(tally.latencies),
        seconds=round(seconds, 3),
        images_per_second=round(total / seconds, 1) if seconds > 0 else None,
        bytes_per_image=round(bytes_sent / total, 1) if total else None,
        disagreements=tally.disagreements[:MAX_LISTED],
        disagreement_count=len(tally.disagreements),
    )


def _latency(values: list[int]) -> Latency:
    if not values:
        return Latency(p50=None, p95=None, max=None)
    array = np.asarray(values, dtype=np.float64)
    return Latency(
        p50=round(float(np.percentile(array, 50)), 1),
        p95=round(float(np.percentile(array, 95)), 1),
        max=float(array.max()),
    )
