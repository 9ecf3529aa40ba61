"""When a windowed operator can write its output over its own input, row by row (pure).

Convolutions, depthwise convolutions and pooling read, for output row y, the input rows from
`y * stride - pad` over a window of `window` rows. Run in place, the output starts at some
byte of the shared region and the input `input_shift` bytes after it; each output row is
computed into a small scratch ring of `lag` rows (the kernel never writes over what it reads)
and copied to its place once no later output row needs the input bytes it covers. The shared
region is max(output, input_shift + input) bytes instead of input + output, plus the scratch.
`row_schedule()` picks the shift that makes region + scratch smallest; the C side is
`kernels/tml_inplace.c`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RowWindow:
    """An operator's geometry by rows: how many rows in and out, their bytes, the window."""

    in_rows: int
    in_row_bytes: int
    out_rows: int
    out_row_bytes: int
    stride: int
    pad: int  # input rows above the image the first window starts at
    window: int  # rows one output row reads: (filter_h - 1) * dilation + 1

    @property
    def in_bytes(self) -> int:
        return self.in_rows * self.in_row_bytes

    @property
    def out_bytes(self) -> int:
        return self.out_rows * self.out_row_bytes


@dataclass(frozen=True)
class RowSchedule:
    """Where the input sits in the shared region and how many output rows wait in scratch."""

    input_shift: int  # bytes from the output's first byte to the input's
    lag: int  # output rows computed before the oldest is copied to its place
    scratch_bytes: int
    region_bytes: int  # bytes the input and output share: max(out, input_shift + in)

    @property
    def footprint(self) -> int:
        return self.region_bytes + self.scratch_bytes


def lag(window: RowWindow, input_shift: int) -> int:
    """The fewest output rows to hold back so that no copied row lands on input still needed.

    Output row j, copied to bytes [j * out_row, (j + 1) * out_row) of the region, covers the
    input rows up to r; the last output row reading row r is the last whose window starts at
    or above it. Row j is copied after computing row j + lag - 1, so lag must exceed that
    reader's distance from j.
    """
    needed = 1
    for row in range(window.out_rows):
        last_byte = (row + 1) * window.out_row_bytes - 1 - input_shift
        if last_byte < 0:
            continue
        covered = min(window.in_rows - 1, last_byte // window.in_row_bytes)
        reader = min(window.out_rows - 1, (covered + window.pad) // window.stride)
        needed = max(needed, reader - row + 1)
    return min(needed, window.out_rows)


def row_schedule(window: RowWindow, alignment: int) -> RowSchedule:
    """The input shift (a multiple of `alignment`) with the smallest region + scratch."""
    growth = max(0, window.out_bytes - window.in_bytes)
    rows = range(-window.window - 1, window.window + 2)
    shifts = {0, growth}
    shifts.update(growth + k * window.in_row_bytes for k in rows)
    shifts.update(k * window.in_row_bytes for k in rows)
    best: RowSchedule | None = None
    for shift in sorted({_align(s, alignment) for s in shifts if s >= 0}):
        rows_held = lag(window, shift)
        candidate = RowSchedule(
            input_shift=shift,
            lag=rows_held,
            scratch_bytes=rows_held * window.out_row_bytes,
            region_bytes=max(window.out_bytes, shift + window.in_bytes),
        )
        if best is None or _rank(candidate) < _rank(best):
            best = candidate
    assert best is not None
    return best


def _rank(schedule: RowSchedule) -> tuple[int, int, int]:
    """Smallest footprint first; then the input as high as it goes, which leaves the bytes
    below it free for the tensor its producer reads (they are alive together)."""
    return schedule.footprint, schedule.lag, -schedule.input_shift


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment
