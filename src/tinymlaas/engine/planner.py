"""Place every activation tensor in one static buffer, from the tensors' lifetimes (pure).

Tensors that are never alive at the same time may share bytes. Some tensors are tied to
others at a fixed distance and placed as one group: a RESHAPE's output is its input (same
bytes); an element-wise step may write its output over an input of the same size that dies
there; a step run in place (see `in_place.py`) writes its output over its dying input, which
sits `input_shift` bytes after the output's start, and needs a few scratch bytes of its own
while it runs. Groups are placed one by one, each at the lowest offset where none of its
tensors overlaps a placed tensor alive at the same time; a few placement orders are tried and
the smallest buffer is kept.

In-place execution is chosen only where it lowers the peak: the planner starts from every
step that can run in place, then gives each back its ordinary kernel (smallest steps first)
whenever that does not raise the peak.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

ALIGNMENT = 16

StepKind = Literal["alias", "elementwise", "other"]
InPlaceMode = Literal["auto", "all", "none"]


@dataclass(frozen=True)
class InPlace:
    """How a step can run in place: its first input starts `input_shift` bytes after its
    output's start (a multiple of ALIGNMENT), and it needs `scratch_bytes` elsewhere."""

    input_shift: int
    scratch_bytes: int


@dataclass(frozen=True)
class Step:
    """One operator as the planner sees it: activation tensors in and out, and its kind.

    "alias": the output is the first input's bytes (reshape). "elementwise": the output may
    reuse the bytes of an input of equal size that is not needed afterwards. `in_place`: the
    step can also write its output over its first input when that input dies here.
    """

    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    kind: StepKind = "other"
    in_place: InPlace | None = None


@dataclass(frozen=True)
class Plan:
    """Byte offsets of the tensors in the activation buffer, and the figures to report."""

    offsets: dict[int, int]
    peak_bytes: int  # size of the activation buffer
    floor_bytes: int  # largest input + output activation bytes of any single step
    # Steps run in place (position in `steps`) -> offset of their scratch bytes.
    in_place: dict[int, int] = field(default_factory=dict)
    ordinary_peak_bytes: int = 0  # the buffer every step's ordinary kernel would need

    @property
    def in_place_saved_bytes(self) -> int:
        return self.ordinary_peak_bytes - self.peak_bytes


def plan(
    steps: Sequence[Step],
    sizes: Mapping[int, int],
    graph_inputs: Sequence[int],
    graph_outputs: Sequence[int],
    in_place: InPlaceMode = "auto",
) -> Plan:
    """Return the offsets of every tensor in `sizes` (activations, graph input/output included).

    `in_place`: "auto" runs steps in place where that lowers the peak; "none" never (every
    step writes a buffer of its own); "all" wherever legal (to test the in-place kernels).
    """
    lifetimes = _lifetimes(steps, sizes, graph_inputs, graph_outputs)
    ordinary = _Layout.of(steps, sizes, lifetimes, frozenset())
    if in_place == "all":
        legal = frozenset(p for p, step in enumerate(steps) if step.in_place is not None)
        best = _Layout.of(steps, sizes, lifetimes, legal)
    elif in_place == "none":
        best = ordinary
    else:
        best = _choose_in_place(steps, sizes, lifetimes, ordinary)
    offsets = {tensor: best.offsets[tensor] for tensor in sizes}
    scratch = {position: best.offsets[_scratch_key(position)] for position in best.in_place}
    return Plan(offsets, best.peak, floor_bytes(steps, sizes), scratch, ordinary.peak)


def _choose_in_place(
    steps: Sequence[Step], sizes: Mapping[int, int], lifetimes: Lifetimes, ordinary: _Layout
) -> _Layout:
    """Run the busiest steps in place, one at a time, while that makes progress.

    The busiest steps (most bytes alive) bound the buffer from below: each round tries those
    that can run in place, and keeps one when it lowers the peak or, at the same peak, the
    busiest steps' bytes or their number (two steps at the peak each need theirs lowered
    before the peak moves). The search ends when a busiest step cannot run in place;
    `_prune` then drops the steps the peak does not need.
    """
    best = ordinary
    best_key = _progress(steps, sizes, lifetimes, best)
    while True:
        busy = _live_bytes(steps, sizes, lifetimes, best.in_place)
        busiest = max(busy.values(), default=0)
        tried = [
            position
            for position, live in busy.items()
            if live == busiest
            and position not in best.in_place
            and steps[position].in_place is not None
        ]
        improved = False
        for position in tried:
            trial = _Layout.of(steps, sizes, lifetimes, best.in_place | {position})
            trial_key = _progress(steps, sizes, lifetimes, trial)
            if trial_key < best_key and position in trial.in_place:
                best, best_key, improved = trial, trial_key, True
                break
        if not improved:
            return _prune(steps, sizes, lifetimes, best)


def _progress(
    steps: Sequence[Step], sizes: Mapping[int, int], lifetimes: Lifetimes, layout: _Layout
) -> tuple[int, int, int]:
    """What the search lowers: the peak, the busiest step's bytes, how many steps have them."""
    live = _live_bytes(steps, sizes, lifetimes, layout.in_place).values()
    busiest = max(live, default=0)
    return layout.peak, busiest, sum(1 for value in live if value == busiest)


def _prune(
    steps: Sequence[Step], sizes: Mapping[int, int], lifetimes: Lifetimes, best: _Layout
) -> _Layout:
    """Give back the ordinary kernel to every in-place step the peak does not need."""
    for position in sorted(best.in_place, key=lambda p: (_step_bytes(steps[p], sizes), p)):
        trial = _Layout.of(steps, sizes, lifetimes, best.in_place - {position})
        if trial.peak <= best.peak:
            best = trial
    return best


def _live_bytes(
    steps: Sequence[Step], sizes: Mapping[int, int], lifetimes: Lifetimes, in_place: frozenset[int]
) -> dict[int, int]:
    """Bytes alive during each step (a lower bound of the buffer), in-place steps counted
    with their shared region and scratch instead of their input and output."""
    live = dict.fromkeys(range(len(steps)), 0)
    for tensor, (first, last) in lifetimes.items():
        for position in range(max(first, 0), min(last, len(steps) - 1) + 1):
            live[position] += sizes[tensor]
    for position in in_place:
        step, spec = steps[position], steps[position].in_place
        assert spec is not None
        source, target = sizes[step.inputs[0]], sizes[step.outputs[0]]
        region = max(target, spec.input_shift + source)
        live[position] += region + spec.scratch_bytes - source - target
    return live


def floor_bytes(steps: Sequence[Step], sizes: Mapping[int, int]) -> int:
    """The layer-by-layer floor: the most bytes any one step needs at once (inputs + outputs)."""
    return max(
        (_step_bytes(step, sizes) for step in steps if step.kind != "alias"),
        default=0,
    )


def _step_bytes(step: Step, sizes: Mapping[int, int]) -> int:
    return sum(sizes[t] for t in {*step.inputs, *step.outputs} if t in sizes)


def _scratch_key(position: int) -> int:
    """The planner's name for a step's scratch bytes (tensor indices are never negative)."""
    return -(position + 1)


Lifetimes = dict[int, tuple[int, int]]  # tensor -> (first step alive, last step alive)


def _lifetimes(
    steps: Sequence[Step],
    sizes: Mapping[int, int],
    graph_inputs: Sequence[int],
    graph_outputs: Sequence[int],
) -> Lifetimes:
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
    return {tensor: (first[tensor], last[tensor]) for tensor in sizes}


@dataclass
class _Group:
    """Tensors placed together: each at a fixed distance from the group's first byte."""

    members: dict[int, int]  # tensor -> offset inside the group
    offset: int = -1

    def span(self, sizes: Mapping[int, int]) -> int:
        return max(relative + sizes[t] for t, relative in self.members.items())


@dataclass(frozen=True)
class _Layout:
    offsets: dict[int, int]  # tensors and scratch keys -> byte offset
    peak: int
    in_place: frozenset[int]  # steps that really run in place (their input died there)

    @classmethod
    def of(
        cls,
        steps: Sequence[Step],
        sizes: Mapping[int, int],
        lifetimes: Lifetimes,
        in_place: frozenset[int],
    ) -> _Layout:
        """The smallest placement over the orders tried, with these steps run in place."""
        all_sizes = dict(sizes)
        all_lifetimes = dict(lifetimes)
        groups, merged = _groups(steps, sizes, lifetimes, in_place)
        for position in merged:
            scratch = steps[position].in_place
            assert scratch is not None
            all_sizes[_scratch_key(position)] = scratch.scratch_bytes
            all_lifetimes[_scratch_key(position)] = (position, position)
            groups.append(_Group({_scratch_key(position): 0}))
        best: _Layout | None = None
        for order in _ORDERS:
            for under_top in (False, True):
                offsets = _place(groups, all_sizes, all_lifetimes, order, under_top)
                peak = max((offsets[t] + all_sizes[t] for t in offsets), default=0)
                if best is None or peak < best.peak:
                    best = cls(offsets, peak, merged)
        assert best is not None
        return best


def _groups(
    steps: Sequence[Step],
    sizes: Mapping[int, int],
    lifetimes: Lifetimes,
    in_place: frozenset[int],
) -> tuple[list[_Group], frozenset[int]]:
    group_of = {tensor: _Group({tensor: 0}) for tensor in sizes}
    merged: set[int] = set()

    def dies_here(tensor: int, position: int) -> bool:
        return max(lifetimes[t][1] for t in group_of[tensor].members) == position

    for position, step in enumerate(steps):
        if not step.outputs or step.outputs[0] not in group_of:
            continue
        output = step.outputs[0]
        candidates = [t for t in step.inputs if t in group_of]
        if step.kind == "alias" and candidates:
            _join(group_of, candidates[0], output, 0)
        elif step.kind == "elementwise":
            for tensor in candidates:
                if dies_here(tensor, position) and sizes[tensor] == sizes[output]:
                    _join(group_of, tensor, output, 0)
                    break
        elif position in in_place and step.in_place and candidates:
            source = candidates[0]
            if step.inputs[0] == source and dies_here(source, position):
                _join(group_of, source, output, -step.in_place.input_shift)
                merged.add(position)
    groups = list({id(group): group for group in group_of.values()}.values())
    return groups, frozenset(merged)


def _join(group_of: dict[int, _Group], anchor: int, joining: int, distance: int) -> None:
    """Tie `joining`'s group to `anchor`'s, with `joining` `distance` bytes after `anchor`."""
    target, source = group_of[anchor], group_of[joining]
    if source is target:
        return
    move = target.members[anchor] + distance - source.members[joining]
    for tensor, relative in source.members.items():
        target.members[tensor] = relative + move
        group_of[tensor] = target
    lowest = min(target.members.values())
    for tensor in target.members:
        target.members[tensor] -= lowest


GroupOrder = Callable[[_Group, Mapping[int, int], Lifetimes], tuple[int, ...]]


def _start(group: _Group, lifetimes: Lifetimes) -> int:
    return min(lifetimes[t][0] for t in group.members)


def _end(group: _Group, lifetimes: Lifetimes) -> int:
    return max(lifetimes[t][1] for t in group.members)


# Placement orders tried; the smallest peak wins. Largest first is the classic heuristic; in
# execution order and latest-dying first fix the cases where it fragments (an RGB input that
# lives only until the first convolution but was placed first at offset 0).
_ORDERS: tuple[GroupOrder, ...] = (
    lambda g, s, life: (-g.span(s), _start(g, life), min(g.members)),
    lambda g, s, life: (_start(g, life), -g.span(s), min(g.members)),
    lambda g, s, life: (-_end(g, life), -g.span(s), min(g.members)),
    lambda g, s, life: (
        -g.span(s) * (_end(g, life) - _start(g, life) + 1),
        min(g.members),
    ),
)


def _place(
    groups: list[_Group],
    sizes: Mapping[int, int],
    lifetimes: Lifetimes,
    order: GroupOrder,
    under_top: bool,
) -> dict[int, int]:
    """First fit in `order`; with `under_top`, each group goes as high as it fits below the
    bytes used so far (the output of a chain then lands at the other end from its input)."""
    placed: list[tuple[int, int, int, int]] = []  # first step, last step, first byte, end
    offsets: dict[int, int] = {}
    top = 0
    for group in sorted(groups, key=lambda g: order(g, sizes, lifetimes)):
        forbidden = _forbidden(group, sizes, lifetimes, placed)
        offset = _highest_offset(forbidden, top - group.span(sizes)) if under_top else -1
        if offset < 0:
            offset = _lowest_offset(forbidden)
        for tensor, relative in group.members.items():
            start = offset + relative
            offsets[tensor] = start
            placed.append((*lifetimes[tensor], start, start + sizes[tensor]))
        top = max(top, offset + group.span(sizes))
    return offsets


def _forbidden(
    group: _Group,
    sizes: Mapping[int, int],
    lifetimes: Lifetimes,
    placed: list[tuple[int, int, int, int]],
) -> list[tuple[int, int]]:
    """[low, high): offsets of the group at which a member would overlap a placed tensor
    alive at the same time."""
    forbidden = []
    for tensor, relative in group.members.items():
        first, last = lifetimes[tensor]
        size = sizes[tensor]
        for other_first, other_last, low, high in placed:
            if other_first <= last and first <= other_last and size and high > low:
                forbidden.append((low - relative - size + 1, high - relative))
    return forbidden


def _lowest_offset(forbidden: list[tuple[int, int]]) -> int:
    offset = 0
    for low, high in sorted(forbidden):
        if low > offset:
            break
        offset = max(offset, _align(high))
    return offset


def _highest_offset(forbidden: list[tuple[int, int]], ceiling: int) -> int:
    """The highest aligned offset at most `ceiling` that is not forbidden, or -1."""
    offset = ceiling // ALIGNMENT * ALIGNMENT
    for low, high in sorted(forbidden, key=lambda interval: -interval[1]):
        if offset < 0:
            break
        if low <= offset < high:
            offset = (low - 1) // ALIGNMENT * ALIGNMENT
    return offset


def _align(value: int) -> int:
    return (value + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
