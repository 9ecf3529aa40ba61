"""The search space, what each candidate costs on a board, halving and the Pareto front."""

from __future__ import annotations

import pytest

from tinymlaas.hardware.boards import get_board
from tinymlaas.search import c_engine_figures, halving, space
from tinymlaas.search.macs import count_macs
from tinymlaas.training import catalog


def test_mobilenet_v1_at_96_grayscale_has_the_person_detectors_macs() -> None:
    # TFLite-Micro's person detector (α0.25, 96×96×1) is published at about 7.2 M MACs.
    macs = count_macs("mobilenet-v1", 0.25, 96, 96, 1, 2)
    assert 7.0e6 < macs < 7.4e6


def test_cnn_small_macs_are_its_three_convolutions_and_classifier() -> None:
    # 16×16×1: 16·16·9·1·8 + 8·8·9·8·16 + 4·4·9·16·32 + 32·3
    assert count_macs("cnn-small", 1.0, 16, 16, 1, 3) == 18432 + 73728 + 73728 + 96


def test_the_default_space_is_every_architecture_alpha_size_and_colour_mode() -> None:
    specs = space.enumerate_space()
    alphas = sum(len(arch.alphas) for arch in catalog.ARCHITECTURES.values())
    # cnn-small takes 16..320, MobileNets 32..320: every default size is offered to all.
    assert len(specs) == alphas * len(space.DEFAULT_INPUT_SIZES) * 2
    assert space.CandidateSpec("mobilenet-v2", 0.35, 96, "rgb") in specs


def test_an_unknown_architecture_is_named() -> None:
    with pytest.raises(catalog.InvalidTrainingConfig, match="'?resnet"):
        space.enumerate_space(["resnet"])


def test_a_candidate_too_big_for_the_board_is_dropped_with_its_figures() -> None:
    nano = get_board("nano33ble")
    big = space.assess(
        space.CandidateSpec("mobilenet-v1", 0.5, 96, "rgb"), nano, "tflm", 3, 0.1, None
    )
    assert big.drop_reason is not None
    assert "B of flash" in big.drop_reason
    assert "10% margin" in big.drop_reason
    small = space.assess(
        space.CandidateSpec("cnn-small", 0.5, 32, "grayscale"), nano, "tflm", 3, 0.1, None
    )
    assert small.drop_reason is None
    assert small.latency_ms is not None
    assert small.latency_ms > 0


def test_a_candidate_slower_than_max_latency_is_dropped() -> None:
    nano = get_board("nano33ble")
    spec = space.CandidateSpec("cnn-small", 1.0, 64, "grayscale")
    kept = space.assess(spec, nano, "tflm", 3, 0.1, None)
    assert kept.drop_reason is None
    assert kept.latency_ms is not None
    dropped = space.assess(spec, nano, "tflm", 3, 0.1, kept.latency_ms / 2)
    assert dropped.drop_reason is not None
    assert "max_latency_ms" in dropped.drop_reason


def test_latency_is_macs_times_cycles_per_mac_over_the_clock() -> None:
    nano, pico = get_board("nano33ble"), get_board("pico")
    spec = space.CandidateSpec("mobilenet-v1", 0.25, 96, "grayscale")
    macs = count_macs("mobilenet-v1", 0.25, 96, 96, 1, 3)
    on_nano = space.assess(spec, nano, "c", 3, 0.1, None)
    assert on_nano.latency_ms == pytest.approx(macs * 16 / 64_000, abs=0.001)
    # the RP2040's M0+ has twice the cycles per MAC at 133 MHz
    assert space.latency_ms(macs, pico, "c") == pytest.approx(macs * 32 / 133_000, abs=0.001)
    assert space.latency_ms(macs, get_board("virtual"), "c") is None


def test_sampling_spreads_from_the_cheapest_to_the_costliest() -> None:
    nano = get_board("nano33ble")
    assessed = [space.assess(spec, nano, "tflm", 3, 0.1, None) for spec in space.enumerate_space()]
    fitting = sorted(item.macs for item in assessed if item.drop_reason is None)
    kept, left = space.sample(assessed, 5)
    assert len(kept) == 5
    assert len(kept) + len(left) == len(fitting)
    assert kept[0].macs == fitting[0]
    assert kept[-1].macs == fitting[-1]


def result(id: int, accuracy: float, ram: int, latency: float) -> halving.Result:
    return halving.Result(id=id, accuracy=accuracy, ram_bytes=ram, latency_ms=latency, macs=1)


def test_the_best_third_survives_a_rung() -> None:
    results = [
        result(index, accuracy, 1000, 10.0) for index, accuracy in enumerate([0.5, 0.9, 0.7, 0.8])
    ]
    assert [item.id for item in halving.survivors(results, "accuracy")] == [1, 3]


def test_accuracy_per_ms_prefers_the_fast_model() -> None:
    slow, fast = result(1, 0.9, 1000, 100.0), result(2, 0.8, 1000, 10.0)
    assert halving.ranked([slow, fast], "accuracy")[0].id == 1
    assert halving.ranked([slow, fast], "accuracy_per_ms")[0].id == 2


def test_rungs_triple_their_epochs_until_one_is_left_or_the_cap() -> None:
    assert [halving.rung_epochs(2, rung) for rung in range(3)] == [2, 6, 18]
    assert halving.should_continue(3, 2, 0)
    assert not halving.should_continue(1, 2, 0)
    assert not halving.should_continue(5, 30, 0)
    assert not halving.should_continue(3, 2, 0, max_epochs=5)


def test_the_best_alone_trains_on_for_what_the_budget_holds_less_the_compile() -> None:
    common = {"epochs_trained": 6, "target_epochs": 18, "max_epochs": 60}
    # 100 s left of 600, less a 30 s reserve: 7 epochs of 10 s
    assert (
        halving.extension_epochs(
            **common, seconds_per_epoch=10, elapsed_seconds=500, budget_seconds=600
        )
        == 7
    )
    # plenty of time: up to the next rung's 18 in all, never over the cap
    assert (
        halving.extension_epochs(
            **common, seconds_per_epoch=1, elapsed_seconds=0, budget_seconds=3600
        )
        == 12
    )
    capped = common | {"max_epochs": 8}
    assert (
        halving.extension_epochs(
            **capped, seconds_per_epoch=1, elapsed_seconds=0, budget_seconds=3600
        )
        == 2
    )
    # nothing fits, the cap is reached, or the pace is unknown: no extension
    assert (
        halving.extension_epochs(
            **common, seconds_per_epoch=10, elapsed_seconds=565, budget_seconds=600
        )
        == 0
    )
    assert halving.extension_epochs(
        **(common | {"max_epochs": 6}), seconds_per_epoch=1, elapsed_seconds=0,
        budget_seconds=3600,
    ) == 0  # fmt: skip
    assert (
        halving.extension_epochs(
            **common, seconds_per_epoch=0, elapsed_seconds=0, budget_seconds=3600
        )
        == 0
    )
    assert halving.compile_reserve(1800) == 90
    assert halving.compile_reserve(60) == 15


def test_the_next_rung_starts_only_if_it_ends_inside_the_budget() -> None:
    # 10 s per epoch trained: 6 more epochs need 60 s.
    fits = halving.next_rung_fits(
        rung_seconds=30, rung_epochs_trained=3, next_epochs_to_train=6,
        elapsed_seconds=30, budget_seconds=100,
    )  # fmt: skip
    late = halving.next_rung_fits(
        rung_seconds=30, rung_epochs_trained=3, next_epochs_to_train=6,
        elapsed_seconds=50, budget_seconds=100,
    )  # fmt: skip
    assert fits
    assert not late


def test_the_pareto_front_leaves_out_what_another_beats_on_every_axis() -> None:
    results = [
        result(1, 0.90, 100_000, 50.0),
        result(2, 0.85, 50_000, 20.0),
        result(3, 0.80, 60_000, 30.0),  # worse than 2 everywhere
        result(4, 0.95, 200_000, 80.0),
    ]
    assert halving.pareto_front(results) == [2, 1, 4]


def test_the_c_engine_is_assessed_with_its_own_plan_weights_and_code() -> None:
    nano = get_board("nano33ble")
    spec = space.CandidateSpec("cnn-small", 1.0, 32, "grayscale")
    c_engine = space.assess(spec, nano, "c", 3, 0.1, None)
    tflm = space.assess(spec, nano, "tflm", 3, 0.1, None)
    # recorded from the engine: an 8,448 B activation buffer (two operators in place) and
    # 6,760 B of weights and requantization constants; the engine's code instead of
    # TFLite-Micro's library
    frame, code = 25_344, c_engine_figures.figures("cnn-small", 1.0, 32, 1, 3)
    assert code is not None
    expected_ram = 8_448 + code.stack_bytes + 32 * 32 + nano.runtime_ram_bytes + frame
    assert c_engine.ram_bytes == expected_ram
    core = nano.runtime_flash_bytes - 90_600 + nano.reserved_flash_bytes
    assert c_engine.flash_bytes == 6_760 + code.code_bytes + core
    assert 15_000 < code.code_bytes < 16_000  # 15,420 B measured on a Cortex-M4
    assert c_engine.ram_bytes < tflm.ram_bytes
    assert c_engine.flash_bytes < tflm.flash_bytes
