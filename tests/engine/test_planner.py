"""The memory planner on hand-made graphs."""

from tinymlaas.engine.planner import Step, floor_bytes, plan


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
