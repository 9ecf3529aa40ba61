import pytest

from tinymlaas.hardware.boards import BOARDS, Board, UnknownBoard, get_board, guess_board

KiB = 1024


def test_catalog_holds_the_promised_boards() -> None:
    assert {"nano33ble", "esp32-eye", "esp32-s3-eye", "pico", "stm32f746-disco", "virtual"} <= set(
        BOARDS
    )


def test_nano33ble_has_the_published_figures() -> None:
    board = get_board("nano33ble")

    assert (board.mcu.split()[0], board.clock_mhz) == ("nRF52840", 64)
    assert board.core == "cortex-m4f"
    assert (board.flash_bytes, board.ram_bytes) == (1024 * KiB, 256 * KiB)
    assert board.fqbn == "arduino:mbed_nano:nano33ble"
    assert board.architecture == "mbed_nano"


def test_unknown_board_names_the_known_ones() -> None:
    with pytest.raises(UnknownBoard) as raised:
        get_board("uno")

    assert isinstance(raised.value, ValueError)
    assert "'uno'" in str(raised.value)
    assert "nano33ble" in str(raised.value)
    assert "virtual" in str(raised.value)


@pytest.mark.parametrize(
    ("vid", "pid", "board_id"),
    [
        (0x2341, 0x805A, "nano33ble"),
        (0x2341, 0x005A, "nano33ble"),
        (0x2E8A, 0x000A, "pico"),
        (0x0483, 0x374B, "stm32f746-disco"),
    ],
)
def test_guess_board_by_usb_ids(vid: int, pid: int, board_id: str) -> None:
    board = guess_board(vid, pid)

    assert board is not None
    assert board.id == board_id


def test_guess_board_returns_none_for_a_generic_serial_adapter() -> None:
    assert guess_board(0x10C4, 0xEA60) is None


def test_no_usb_id_belongs_to_two_boards() -> None:
    ids = [usb_id for board in BOARDS.values() for usb_id in board.usb_ids]

    assert len(ids) == len(set(ids))


def test_as_dict_has_the_api_fields() -> None:
    assert get_board("pico").as_dict() == {
        "id": "pico",
        "name": "Raspberry Pi Pico (RP2040)",
        "mcu": "RP2040 (dual Cortex-M0+)",
        "clock_mhz": 133,
        "flash_bytes": 2048 * KiB,
        "ram_bytes": 264 * KiB,
    }


def test_virtual_board_is_generous_and_has_no_hardware_identity() -> None:
    board = get_board("virtual")

    assert board.fqbn is None
    assert board.usb_ids == ()
    assert board.architecture == "*"
    assert board.ram_bytes >= 8 * 1024 * KiB


@pytest.mark.parametrize("board", list(BOARDS.values()), ids=list(BOARDS))
def test_runtime_overhead_leaves_room_for_a_model(board: Board) -> None:
    assert 0 <= board.runtime_flash_bytes < board.app_flash_bytes <= board.flash_bytes
    assert 0 <= board.runtime_ram_bytes + board.frame_buffer_for(3) < board.ram_bytes


def test_rgb_models_cost_more_ram_where_the_frame_grows() -> None:
    board = get_board("nano33ble")

    assert board.frame_buffer_for(3) - board.frame_buffer_for(1) == 176 * 144
