import pytest

from tinymlaas.engine.baremetal import CoreNotEmulated, emulated_core
from tinymlaas.engine.baremetal_cores import (
    EMULATED_CORES,
    UNMEASURED_CORES,
    latency_ms_estimate,
)
from tinymlaas.hardware.boards import BOARDS, get_board


def test_every_catalog_board_core_is_either_emulated_or_says_why_not() -> None:
    for board in BOARDS.values():
        assert (board.core in EMULATED_CORES) != (board.core in UNMEASURED_CORES), board.id


@pytest.mark.parametrize(
    ("board_id", "machine"),
    [("nano33ble", "mps2-an386"), ("stm32f746-disco", "mps2-an500")],
)
def test_cortex_m_boards_are_measured_on_their_core(board_id: str, machine: str) -> None:
    board = get_board(board_id)
    core = emulated_core(board.core)

    assert core.machine == machine
    # The board's real memories fit in the emulated machine's.
    assert board.app_flash_bytes <= core.flash_limit_bytes
    assert board.ram_bytes <= core.ram_limit_bytes


@pytest.mark.parametrize(
    ("board_id", "reason"),
    [
        ("pico", "Cortex-M0+"),
        ("esp32-eye", "Xtensa"),
        ("esp32-s3-eye", "Xtensa"),
        ("virtual", "host"),
    ],
)
def test_other_boards_say_why_they_are_not_measured(board_id: str, reason: str) -> None:
    with pytest.raises(CoreNotEmulated, match=reason):
        emulated_core(get_board(board_id).core)


def test_latency_estimate_is_instructions_times_cpi_over_the_clock() -> None:
    nano = get_board("nano33ble")
    core = emulated_core(nano.core)

    # 15 M instructions at 1.2 cycles each on a 64 MHz core.
    assert latency_ms_estimate(15_000_000, core, nano.clock_mhz) == pytest.approx(281.25)
    m7 = emulated_core("cortex-m7")
    assert latency_ms_estimate(15_000_000, m7, 216) == pytest.approx(15e6 * 0.8 / 216e3)
