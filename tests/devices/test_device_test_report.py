"""The device test report: every image counts, agreement is measured against the host's int8."""

from __future__ import annotations

import pytest

from tinymlaas.devices.testing.report import NO_ANSWER, build_report
from tinymlaas.devices.testing.service import spread

CLASSES = ["a", "b", "c"]


def test_unanswered_and_wrong_images_count_against_the_board() -> None:
    labels = [0, 1, 2, 2]
    host = [[9, 0, 0], [0, 9, 0], [0, 0, 9], [0, 9, 8]]  # the host gets the last one wrong
    answers = [
        {"status": "ok", "scores": [9, 0, 0], "latency_us": 100},
        {"status": "ok", "scores": [1, 9, 1], "latency_us": 300},  # within one step
        {"status": "timeout", "error": "no answer within 2 s"},
        {"status": "error", "error": "payload checksum mismatch"},
    ]
    report = build_report(CLASSES, labels, [11, 12, 13, 14], host, answers, 0.5, 400)
    assert (report.images, report.answered, report.timeouts, report.errors) == (4, 2, 1, 1)
    assert report.device_accuracy == 0.5
    assert report.host_accuracy == 0.75
    assert report.agreement.top1 == 0.5
    assert report.agreement.identical_outputs == 0.25
    # 3 + 3 scores within one step out of 4 images × 3 classes.
    assert report.agreement.scores_within_one_step == 0.5
    assert report.confusion == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 2]]
    assert report.confusion_labels[-1] == NO_ANSWER
    assert [(d.image_id, d.device, d.status) for d in report.disagreements] == [
        (13, NO_ANSWER, "timeout"),
        (14, NO_ANSWER, "error"),
    ]
    assert (report.latency_us.p50, report.latency_us.max) == (200.0, 300.0)
    assert report.images_per_second == 8.0
    assert report.bytes_per_image == 100.0
    assert [row.images for row in report.per_class] == [1, 1, 2]


def test_a_wrong_number_of_answers_is_refused() -> None:
    with pytest.raises(ValueError, match="as many"):
        build_report(CLASSES, [0], [1], [[1, 0, 0]], [], 1.0, 0)


def test_a_limit_spreads_the_images_over_the_whole_split() -> None:
    assert spread(list(range(10)), 5) == [0, 2, 4, 6, 8]
    assert spread([1, 2], 5) == [1, 2]
    assert spread([1, 2, 3], None) == [1, 2, 3]


def test_images_not_sent_to_a_hung_board_count_as_wrong_and_the_report_says_why() -> None:
    reason = "the board stopped answering after image 1 (5 images in a row …)"
    answers = [
        {"status": "ok", "scores": [9, 0, 0], "latency_us": 100},
        {"status": "timeout", "error": "no answer within 2 s"},
        {"status": "not_sent", "error": reason},
        {"status": "not_sent", "error": reason},
    ]
    host = [[9, 0, 0], [0, 9, 0], [0, 0, 9], [0, 0, 9]]
    report = build_report(CLASSES, [0, 1, 2, 2], [1, 2, 3, 4], host, answers, 1.0, 100)
    assert (report.images, report.answered, report.timeouts, report.errors) == (4, 1, 1, 0)
    assert (report.not_sent, report.stopped) == (2, reason)
    assert report.device_accuracy == report.agreement.top1 == 0.25
    assert report.confusion[2] == [0, 0, 0, 2]
    assert [(d.image_id, d.status) for d in report.disagreements[1:]] == [
        (3, "not_sent"),
        (4, "not_sent"),
    ]
    every = build_report(CLASSES, [0], [1], [[9, 0, 0]], answers[:1], 1.0, 100)
    assert (every.not_sent, every.stopped) == (0, None)
