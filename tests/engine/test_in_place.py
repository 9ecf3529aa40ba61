"""Row schedules of in-place operators, checked by replaying them byte range by byte range."""

from __future__ import annotations

import itertools

import pytest

from tinymlaas.engine.in_place import RowSchedule, RowWindow, lag, row_schedule


def replay(window: RowWindow, input_shift: int, rows_held: int) -> None:
    """Run the C kernel's loop on paper: compute each output row into the scratch ring, copy
    row j back once `rows_held` rows are computed; every input row a computed row reads must
    still be intact (not under a copied row) when it is read."""
    copied_end = 0  # output bytes [0, copied_end) of the region already written

    def intact(row: int) -> bool:
        return input_shift + row * window.in_row_bytes >= copied_end

    done = 0
    for row in range(window.out_rows):
        origin = row * window.stride - window.pad
        for source in range(max(origin, 0), min(origin + window.window, window.in_rows)):
            assert intact(source), f"output row {row} reads input row {source} written over"
        if row - done + 1 >= rows_held:
            copied_end = (done + 1) * window.out_row_bytes
            done += 1


def window(
    size: tuple[int, int], channels: tuple[int, int], stride: int, k: int, same: bool
) -> RowWindow:
    in_h, in_w = size
    out_h = (in_h + stride - 1) // stride if same else (in_h - k + stride) // stride
    out_w = (in_w + stride - 1) // stride if same else (in_w - k + stride) // stride
    total = max((out_h - 1) * stride + k - in_h, 0) if same else 0
    return RowWindow(
        in_rows=in_h, in_row_bytes=in_w * channels[0],
        out_rows=out_h, out_row_bytes=out_w * channels[1],
        stride=stride, pad=total // 2, window=k,
    )  # fmt: skip


SHAPES = [
    window(size, channels, stride, k, same)
    for size, channels, (stride, k), same in itertools.product(
        [(7, 5), (13, 11), (48, 48)],
        [(3, 7), (8, 16), (16, 8), (5, 5), (1, 8)],
        [(1, 1), (1, 3), (2, 3), (2, 2), (1, 5), (3, 3)],
        [True, False],
    )
    if (size[0] >= k)
]


@pytest.mark.parametrize("geometry", SHAPES, ids=str)
def test_the_chosen_schedule_never_reads_a_row_written_over(geometry: RowWindow) -> None:
    schedule = row_schedule(geometry, 16)
    replay(geometry, schedule.input_shift, schedule.lag)
    assert schedule.input_shift % 16 == 0
    assert schedule.region_bytes == max(
        geometry.out_bytes, schedule.input_shift + geometry.in_bytes
    )
    assert schedule.scratch_bytes == schedule.lag * geometry.out_row_bytes
    if schedule.lag > 1:  # and one row fewer would read something already overwritten
        with pytest.raises(AssertionError, match="written over"):
            replay(geometry, schedule.input_shift, schedule.lag - 1)


@pytest.mark.parametrize("geometry", SHAPES[::7], ids=str)
def test_every_shift_gets_a_safe_lag(geometry: RowWindow) -> None:
    for shift in range(0, geometry.out_bytes + geometry.in_bytes + 1, 48):
        replay(geometry, shift, lag(geometry, shift))


def test_expanding_pointwise_needs_one_output_row() -> None:
    # MobileNet v1's 48×48 pointwise 8 -> 16 channels: 18,432 + 36,864 bytes ordinarily.
    schedule = row_schedule(window((48, 48), (8, 16), 1, 1, True), 16)
    assert schedule == RowSchedule(
        input_shift=18_432, lag=1, scratch_bytes=768, region_bytes=36_864
    )


def test_depthwise_stride_one_holds_back_its_padding_rows() -> None:
    # 3×3 SAME, stride 1: with the input at the output's start, output row j covers input row
    # j, which row j + 1 still reads: two rows wait, or the input moves up one row and one
    # row waits; either way two rows more than the tensor, not a second tensor.
    geometry = window((24, 24), (32, 32), 1, 3, True)
    assert lag(geometry, 0) == 2
    with pytest.raises(AssertionError, match="output row 1 reads input row 0 written over"):
        replay(geometry, 0, 1)
    assert lag(geometry, geometry.in_row_bytes) == 1
    assert row_schedule(geometry, 16).footprint == 18_432 + 2 * 768


def test_shrinking_stride_two_needs_one_row() -> None:
    schedule = row_schedule(window((48, 48), (16, 16), 2, 3, True), 16)
    assert (schedule.input_shift, schedule.lag, schedule.footprint) == (0, 1, 36_864 + 384)
