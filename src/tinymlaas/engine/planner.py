"""Place every activation tensor in one static buffer, from the tensors' lifetimes (pure).

Tensors that are never alive at the same time may share bytes. A RESHAPE's output is its input
(same bytes); an element-wise step may write its output over an input of the same size that
dies there. Buffers are placed largest first, each at the lowest offset that overlaps no
already-placed buffer alive at the same time (greedy by size, first fit); a few other
placement orders are tried too and the smallest buffer is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

ALIGNMENT = 16

StepKind = Literal["alias", "elementwise", "other"]


@dataclass(frozen=True)
class Step:
    """One operator as the planner sees it: activation tensors in and out, and its kind.

    "alias": the output is the first input's bytes (reshape). "elementwise": the output may
    reuse the bytes of an input of equal size that is not needed afterwards.
    """

    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    kind: StepKind = "other"


@dataclass(frozen=True)
class Plan:
    """Byte offsets of the tensors in the activation buffer, and the figures to report."""

    offsets: dict[int, int]
    peak_bytes: int  # size of the activation buffer
    floor_bytes: int  # largest input + output activation bytes of any single step


@dataclass
class _Buffer:
    tensors: list[int]
    size: int
    start: int
    end: int
    offset: int = -1


def plan(
    steps: Sequence[Step],
    sizes: Mapping[int, int],
    graph_inputs: Sequence[int],
    graph_outputs: Sequence[int],
) -> Plan:
    """Return the offsets of every tensor in `sizes` (activations, graph input/output included)."""
    buffer_of = _share_buffers(steps, sizes, graph_inputs, graph_outputs)
    buffers = list({id(buffer): buffer for buffer in buffer_of.values()}.values())
    best: dict[int, int] = {}
    best_peak = -1
    for order in _ORDERS:
        placed: list[_Buffer] = []
        for buffer in sorted(buffers, key=order):
            buffer.offset = _first_fit(buffer, placed)
            placed.append(buffer)
        peak = max((b.offset + b.size for b in placed), default=0)
        if best_peak < 0 or peak < best_peak:
            best_peak = peak
            best = {id(b): b.offset for b in placed}
    offsets = {tensor: best[id(buffer)] for tensor, buffer in buffer_of.items()}
    return Plan(offsets, max(best_peak, 0), floor_bytes(steps, sizes))


def floor_bytes(steps: Sequence[Step], sizes: Mapping[int, int]) -> int:
    """The layer-by-layer floor: the most bytes any one step needs at once (inputs + outputs)."""
    return max(
        (
            sum(sizes[t] for t in {*step.inputs, *step.outputs})
            for step in steps
            if step.kind != "alias"
        ),
        default=0,
    )


def _lifetimes(
    steps: Sequence[Step],
    sizes: Mapping[int, int],
    graph_inputs: Sequence[int],
    graph_outputs: Sequence[int],
) -> tuple[dict[int, int], dict[int, int]]:
    first: dict[int, int] = {tensor: -1 for tensor in graph_inputs}
    last: dict[int, int] = {}
    for position, step in enumerate(steps):
        for tensor in step.outputs:
            first.setdefault(tensor, position)
        for tensor in (*step.inputs, *step.outputs):
            last[tensor] = position
    for tensor in graph_outputs:
        last[tensor] = len(steps)
    for tensor in sizes:
        first.setdefault(tensor, 0)
        last.setdefault(tensor, first[tensor])
    return first, last


def _share_buffers(
    steps: Sequence[Step],
    sizes: Mapping[int, int],
    graph_inputs: Sequence[int],
    graph_outputs: Sequence[int],
) -> dict[int, _Buffer]:
    first, last = _lifetimes(steps, sizes, graph_inputs, graph_outputs)
    buffer_of = {
        tensor: _Buffer([tensor], sizes[tensor], first[tensor], last[tensor]) for tensor in sizes
    }
    for position, step in enumerate(steps):
        if not step.outputs or step.outputs[0] not in buffer_of:
            continue
        output = step.outputs[0]
        candidates = [t for t in step.inputs if t in buffer_of]
        if step.kind == "alias" and candidates:
            _merge(buffer_of, candidates[0], output)
        elif step.kind == "elementwise":
            for tensor in candidates:
                shared = buffer_of[tensor]
                if shared.end == position and shared.size == sizes[output]:
                    _merge(buffer_of, tensor, output)
                    break
    return buffer_of


def _merge(buffer_of: dict[int, _Buffer], keep: int, joining: int) -> None:
    target = buffer_of[keep]
    source = buffer_of[joining]
    if source is target:
        return
    target.tensors.extend(source.tensors)
    target.size = max(target.size, source.size)
    target.start = min(target.start, source.start)
    target.end = max(target.end, source.end)
    for tensor in source.tensors:
        buffer_of[tensor] = target


# Placement orders tried; the smallest peak wins. Largest first is the classic heuristic; in
# execution order and latest-dying first fix the cases where it fragments (an RGB input that
# lives only until the first convolution but was placed first at offset 0).
_ORDERS: tuple[Callable[[_Buffer], tuple[int, ...]], ...] = (
    lambda b: (-b.size, b.start, b.tensors[0]),
    lambda b: (b.start, -b.size, b.tensors[0]),
    lambda b: (-b.end, -b.size, b.tensors[0]),
    lambda b: (-b.size * (b.end - b.start + 1), b.tensors[0]),
)


def _first_fit(buffer: _Buffer, placed: list[_Buffer]) -> int:
    live = sorted(
        (other for other in placed if other.start <= buffer.end and buffer.start <= other.end),
        key=lambda other: other.offset,
    )
    offset = 0
    for other in live:
        if offset + buffer.size <= other.offset:
            break
        offset = max(offset, _align(other.offset + other.size))
    return offset


def _align(value: int) -> int:
    return (value + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
