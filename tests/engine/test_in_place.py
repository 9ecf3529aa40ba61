"""Row schedules of in-place operators, checked by replaying them byte range by byte range."""

from __future__ import annotations

import itertools

import pytest

from tinymlaas.engine.in_place import RowSchedule, RowWindow, lag, row_schedule


def replay(window: RowWindow, input_shift: int, rows_held: int) -> None:
    """Run the C kernel's loop (kernels/tml_inplace.c) on paper: runs of rows whose place lies
    below all the input still to be read go straight there, other rows into the scratch ring,
    copied back `rows_held` rows later. Every input row a computed row reads must still be
    intact (under no written output row) when it is read."""
    written: list[tuple[int, int]] = []  # output byte ranges of the region already written
    row = done = 0
    while row < window.out_rows:
        count = 0
        needed = _needed(window, input_shift, row)
        while row + count < window.out_rows and _place(window, row + count)[1] <= needed:
            count += 1
        for computed in range(row, row + count):  # one kernel call, row after row
            _check_reads(window, input_shift, computed, written)
            written.append(_place(window, computed))
        if count == 0:  # into the scratch
            _check_reads(window, input_shift, row, written)
        row += max(count, 1)
        while done < window.out_rows and (row - done >= rows_held or row == window.out_rows):
            if _place(window, done)[1] > _needed(window, input_shift, done):
                written.append(_place(window, done))  # copied from the scratch
            done += 1


def _needed(window: RowWindow, input_shift: int, row: int) -> int:
    """The first input byte output row `row` and the later rows read."""
    return input_shift + max(row * window.stride - window.pad, 0) * window.in_row_bytes


def _place(window: RowWindow, row: int) -> tuple[int, int]:
    return row * window.out_row_bytes, (row + 1) * window.out_row_bytes


def _check_reads(
    window: RowWindow, input_shift: int, row: int, written: list[tuple[int, int]]
) -> None:
    origin = row * window.stride - window.pad
    for source in range(max(origin, 0), min(origin + window.window, window.in_rows)):
        low = input_shift + source * window.in_row_bytes
        high = low + window.in_row_bytes
        for start, end in written:
            assert end <= low or high <= start, (
                f"output row {row} reads input row {source} written over"
            )


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
