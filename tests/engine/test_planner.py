"""The memory planner on hand-made graphs."""

import random

import pytest

from tinymlaas.engine.in_place import RowWindow, row_schedule
from tinymlaas.engine.planner import ALIGNMENT, InPlace, Plan, Step, floor_bytes, plan


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[0] + b[1] and b[0] < a[0] + a[1]


def test_chain_reuses_dead_buffers() -> None:
    # 0 -> A -> 1 -> B -> 2 -> C -> 3: only neighbours are alive together.
    sizes = {0: 100, 1: 200, 2: 100, 3: 50}
    steps = [Step((0,), (1,)), Step((1,), (2,)), Step((2,), (3,))]
    result = plan(steps, sizes, [0], [3])
    assert result.floor_bytes == 300
    assert result.peak_bytes == 308  # 100 bytes at 208, the first 16-aligned offset after 200
    placed = {t: (result.offsets[t], sizes[t]) for t in sizes}
    for first, second in [(0, 1), (1, 2), (2, 3)]:
        assert not _overlap(placed[first], placed[second])
    # Tensor 0 is dead when tensor 2 is written: they share bytes.
    assert _overlap(placed[0], placed[2])


def test_reshape_is_an_alias() -> None:
    sizes = {0: 64, 1: 64, 2: 64, 3: 10}
    steps = [Step((0,), (1,)), Step((1,), (2,), "alias"), Step((2,), (3,))]
    result = plan(steps, sizes, [0], [3])
    assert result.offsets[1] == result.offsets[2]
    assert result.floor_bytes == 128


def test_elementwise_writes_over_its_dying_input() -> None:
    sizes = {0: 96, 1: 96, 2: 96}
    steps = [Step((0,), (1,), "elementwise"), Step((1,), (2,), "elementwise")]
    result = plan(steps, sizes, [0], [2])
    assert result.offsets[0] == result.offsets[1] == result.offsets[2]
    assert result.peak_bytes == 96
    assert result.floor_bytes == 192


def test_elementwise_keeps_an_input_still_needed() -> None:
    # 1 = f(0); 2 = 1 + 0 (residual); 3 = g(2, 1): tensor 1 lives on, so 2 cannot take it.
    sizes = {0: 32, 1: 32, 2: 32, 3: 32}
    steps = [
        Step((0,), (1,)),
        Step((1, 0), (2,), "elementwise"),
        Step((2, 1), (3,)),
    ]
    result = plan(steps, sizes, [0], [3])
    assert result.offsets[2] == result.offsets[0]  # tensor 0 dies at the add
    assert result.offsets[2] != result.offsets[1]


def test_residual_branch_stays_alive() -> None:
    # A skip connection: tensor 1 is used three steps later, so it blocks its bytes meanwhile.
    sizes = {0: 16, 1: 64, 2: 64, 3: 64, 4: 64}
    steps = [
        Step((0,), (1,)),
        Step((1,), (2,)),
        Step((2,), (3,)),
        Step((3, 1), (4,), "elementwise"),
    ]
    result = plan(steps, sizes, [0], [4])
    placed = {t: (result.offsets[t], sizes[t]) for t in sizes}
    assert not _overlap(placed[1], placed[2])
    assert not _overlap(placed[1], placed[3])
    assert result.peak_bytes == 192


def test_floor_ignores_aliases() -> None:
    sizes = {0: 10, 1: 10}
    assert floor_bytes([Step((0,), (1,), "alias")], sizes) == 0


def test_large_short_lived_input_does_not_fragment() -> None:
    # MobileNet v1's start on 96×96 RGB: placing the input first at offset 0 (largest first)
    # would push the later tensors up to 64,512 bytes; the floor of 55,296 is reachable.
    sizes = {0: 27_648, 1: 18_432, 2: 18_432, 3: 36_864, 4: 9_216}
    steps = [Step((0,), (1,)), Step((1,), (2,)), Step((2,), (3,)), Step((3,), (4,))]
    result = plan(steps, sizes, [0], [4])
    assert result.floor_bytes == 55_296
    assert result.peak_bytes == 55_296


# In-place steps: the output written over the dying input, `input_shift` bytes below it.


def _lifetimes(
    steps: list[Step], sizes: dict[int, int], inputs: list[int], outputs: list[int]
) -> dict[int, tuple[int, int]]:
    alive = {t: [-1, -1] for t in inputs}
    for position, step in enumerate(steps):
        for tensor in (*step.inputs, *step.outputs):
            span = alive.setdefault(tensor, [position, position])
            span[1] = position
    for tensor in outputs:
        alive[tensor][1] = len(steps)
    return {t: (alive[t][0], alive[t][1]) for t in sizes}


def _alias_classes(steps: list[Step], sizes: dict[int, int]) -> dict[int, int]:
    """Tensor -> a representative of the tensors that are the same bytes (reshapes)."""
    parent = {t: t for t in sizes}

    def root(t: int) -> int:
        while parent[t] != t:
            t = parent[t]
        return t

    for step in steps:
        if step.kind == "alias" and step.inputs[0] in sizes:
            parent[root(step.outputs[0])] = root(step.inputs[0])
    return {t: root(t) for t in sizes}


def _written_over(
    steps: list[Step], result: Plan, classes: dict[int, int]
) -> dict[frozenset[int], int]:
    """(class of an input, class of the output written over it) -> the step doing it."""
    pairs: dict[frozenset[int], int] = {}
    for position, step in enumerate(steps):
        if step.kind == "elementwise" or position in result.in_place:
            for tensor in step.inputs:
                if tensor in classes:
                    pairs[frozenset((classes[tensor], classes[step.outputs[0]]))] = position
    return pairs


def assert_valid(
    steps: list[Step], sizes: dict[int, int], result: Plan, inputs: list[int], outputs: list[int]
) -> None:
    """No two tensors alive together overlap unless they are the same bytes (a reshape) or a
    step writes one over the other, and then only during that step; no scratch overlaps a
    tensor alive during its step; in-place steps keep their input's shift."""
    life = _lifetimes(steps, sizes, inputs, outputs)
    classes = _alias_classes(steps, sizes)
    written_over = _written_over(steps, result, classes)
    placed = {t: (result.offsets[t], sizes[t]) for t in sizes}
    for a in sizes:
        assert result.offsets[a] % ALIGNMENT == 0
        assert result.offsets[a] + sizes[a] <= result.peak_bytes
        for b in sizes:
            together = (max(life[a][0], life[b][0]), min(life[a][1], life[b][1]))
            if a >= b or together[0] > together[1] or not _overlap(placed[a], placed[b]):
                continue
            if classes[a] == classes[b]:
                continue
            step = written_over.get(frozenset((classes[a], classes[b])))
            assert together == (step, step), f"tensors {a} and {b} overlap"
    for position, scratch_offset in result.in_place.items():
        step = steps[position]
        assert step.in_place is not None
        source, target = step.inputs[0], step.outputs[0]
        assert result.offsets[source] == result.offsets[target] + step.in_place.input_shift
        scratch = (scratch_offset, step.in_place.scratch_bytes)
        assert scratch_offset + scratch[1] <= result.peak_bytes
        for tensor in sizes:
            if life[tensor][0] <= position <= life[tensor][1]:
                assert not _overlap(scratch, placed[tensor]), f"scratch on tensor {tensor}"


def test_expanding_step_in_place_writes_over_its_input() -> None:
    # 0 (64 B) -> expanding step -> 1 (128 B) -> 2 (32 B). Ordinary: 192 B at the first step;
    # in place: the input in the top half of the output's bytes, 16 B of scratch beside.
    sizes = {0: 64, 1: 128, 2: 32}
    steps = [Step((0,), (1,), in_place=InPlace(64, 16)), Step((1,), (2,))]
    result = plan(steps, sizes, [0], [2])
    assert set(result.in_place) == {0}
    assert result.offsets[0] == result.offsets[1] + 64
    assert result.floor_bytes == 192
    assert result.ordinary_peak_bytes == 192
    assert result.peak_bytes == 160  # now the second step: 128 + 32
    assert result.in_place_saved_bytes == 32
    assert_valid(steps, sizes, result, [0], [2])


def test_in_place_only_where_it_lowers_the_peak() -> None:
    # The peak is the last step (208 + 208); the first two could run in place but that
    # saves nothing, so they keep their ordinary kernels.
    sizes = {0: 48, 1: 48, 2: 208, 3: 208}
    steps = [
        Step((0,), (1,), in_place=InPlace(0, 16)),
        Step((1,), (2,), in_place=InPlace(160, 16)),
        Step((2,), (3,)),
    ]
    result = plan(steps, sizes, [0], [3])
    assert result.in_place == {}
    assert result.peak_bytes == result.ordinary_peak_bytes == 416
    everything = plan(steps, sizes, [0], [3], in_place="all")
    assert set(everything.in_place) == {0, 1}
    assert_valid(steps, sizes, everything, [0], [3])


def test_an_input_still_needed_is_never_written_over() -> None:
    # A residual: tensor 1 is read again by the add, so step 1 cannot write over it.
    sizes = {0: 32, 1: 64, 2: 64, 3: 64}
    steps = [
        Step((0,), (1,), in_place=InPlace(0, 16)),
        Step((1,), (2,), in_place=InPlace(0, 16)),
        Step((2, 1), (3,), "elementwise"),
    ]
    for mode in ("auto", "all"):
        result = plan(steps, sizes, [0], [3], in_place=mode)
        assert 1 not in result.in_place
        assert_valid(steps, sizes, result, [0], [3])


def test_none_keeps_every_step_ordinary() -> None:
    sizes = {0: 64, 1: 128, 2: 32}
    steps = [Step((0,), (1,), in_place=InPlace(64, 16)), Step((1,), (2,))]
    result = plan(steps, sizes, [0], [2], in_place="none")
    assert result.in_place == {}
    assert result.peak_bytes == result.ordinary_peak_bytes == 192


def _window(
    in_shape: tuple[int, int, int], out_shape: tuple[int, int, int], stride: int, pad: int, k: int
) -> RowWindow:
    return RowWindow(
        in_rows=in_shape[0], in_row_bytes=in_shape[1] * in_shape[2],
        out_rows=out_shape[0], out_row_bytes=out_shape[1] * out_shape[2],
        stride=stride, pad=pad, window=k,
    )  # fmt: skip


def test_mobilenet_v1_start_goes_below_the_layer_by_layer_floor() -> None:
    # MobileNet v1 α0.25 96×96 gray, first stages (the anchor), with the row
    # schedules the code generator would give each convolution.
    shapes = [(96, 96, 1), (48, 48, 8), (48, 48, 8), (48, 48, 16), (24, 24, 16), (24, 24, 32)]
    geometry = [(2, 0, 3), (1, 1, 3), (1, 0, 1), (2, 0, 3), (1, 0, 1)]  # stride, pad, rows
    sizes = {index: h * w * c for index, (h, w, c) in enumerate(shapes)}
    steps = []
    for index, (stride, pad, rows) in enumerate(geometry):
        window = _window(shapes[index], shapes[index + 1], stride, pad, rows)
        schedule = row_schedule(window, ALIGNMENT)
        in_place = InPlace(schedule.input_shift, schedule.scratch_bytes)
        steps.append(Step((index,), (index + 1,), in_place=in_place))
    result = plan(steps, sizes, [0], [5])
    assert result.floor_bytes == 55_296  # 48×48×8 in, 48×48×16 out
    assert result.ordinary_peak_bytes == 55_296
    assert result.peak_bytes <= 38_000  # 36,864 + one output row of scratch
    assert 2 in result.in_place  # the expanding pointwise convolution
    assert result.in_place_saved_bytes == 55_296 - result.peak_bytes
    assert_valid(steps, sizes, result, [0], [5])
    assert_valid(steps, sizes, plan(steps, sizes, [0], [5], in_place="all"), [0], [5])


def test_the_overlap_check_catches_a_live_tensor_written_over() -> None:
    sizes = {0: 64, 1: 128, 2: 32}
    steps = [Step((0,), (1,), in_place=InPlace(64, 16)), Step((1,), (2,))]
    wrong = Plan({0: 0, 1: 32, 2: 160}, 192, 192, {})  # 0 and 1 overlap, no in-place step
    with pytest.raises(AssertionError, match="tensors 0 and 1 overlap"):
        assert_valid(steps, sizes, wrong, [0], [2])
    scratch_on_output = Plan({0: 64, 1: 0, 2: 128}, 192, 192, {0: 16})
    with pytest.raises(AssertionError, match="scratch on tensor"):
        assert_valid(steps, sizes, scratch_on_output, [0], [2])


def test_two_steps_at_the_peak_both_go_in_place() -> None:
    # cnn-small's start: a convolution 256 -> 1024 B, then a pool 1024 -> 256 B; both need
    # 1,280 B. Either alone in place leaves the other at 1,280: only both lower the peak.
    sizes = {0: 256, 1: 1024, 2: 256, 3: 16}
    steps = [
        Step((0,), (1,), in_place=InPlace(768, 64)),
        Step((1,), (2,), in_place=InPlace(0, 32)),
        Step((2,), (3,)),
    ]
    result = plan(steps, sizes, [0], [3])
    assert result.ordinary_peak_bytes == 1_280
    assert set(result.in_place) == {0, 1}
    assert result.peak_bytes == 1_088  # 1,024 shared + 64 of the convolution's scratch
    assert_valid(steps, sizes, result, [0], [3])


def _random_graph(seed: int) -> tuple[list[Step], dict[int, int], list[int]]:
    """Chains with branches, residual adds, reshapes and in-place candidates."""
    rng = random.Random(seed)
    sizes = {0: rng.randrange(16, 400)}
    steps: list[Step] = []
    for tensor in range(1, rng.randrange(4, 14)):
        source = rng.randrange(max(0, tensor - 3), tensor)
        kind = rng.choice(["other", "other", "other", "alias", "elementwise"])
        size = sizes[source] if kind != "other" else rng.randrange(16, 400)
        inputs: tuple[int, ...] = (source,)
        if kind == "elementwise" and tensor > 1 and rng.random() < 0.5:
            other = rng.randrange(0, tensor)
            sizes[other] = sizes.get(other, size)
            inputs = (source, other) if sizes[other] == size else inputs
        in_place = None
        if kind == "other" and rng.random() < 0.7:
            shift = max(0, size - sizes[source]) + 16 * rng.randrange(0, 3)
            in_place = InPlace(shift // 16 * 16, rng.randrange(1, 64))
        sizes[tensor] = size
        steps.append(Step(inputs, (tensor,), kind, in_place))  # type: ignore[arg-type]
    return steps, sizes, [len(sizes) - 1]


@pytest.mark.parametrize("seed", range(150))
def test_random_graphs_never_overlap_live_tensors(seed: int) -> None:
    steps, sizes, outputs = _random_graph(seed)
    for mode in ("auto", "all", "none"):
        result = plan(steps, sizes, [0], outputs, in_place=mode)  # type: ignore[arg-type]
        assert_valid(steps, sizes, result, [0], outputs)
        if mode == "auto":
            assert result.peak_bytes <= result.ordinary_peak_bytes
