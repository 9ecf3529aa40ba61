"""The fit verdict: what a model needs of a board's RAM and flash, part by labelled part."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tinymlaas.hardware.boards import BOARDS, Board, KiB, MiB, get_board
from tinymlaas.hardware.footprint import fit, tensor_arena_bytes


def detail_for(board: Board, channels: int = 1) -> dict[str, Any]:
    return fit(
        board,
        model_bytes=100_000,
        arena_bytes=40_000,
        input_bytes=96 * 96 * channels,
        channels=channels,
    ).detail


def parts(detail: dict[str, Any], memory: str) -> dict[str, int]:
    return {part["label"]: part["bytes"] for part in detail[memory]["parts"]}


def test_flash_outside_the_app_partition_is_reserved_not_runtime() -> None:
    detail = detail_for(get_board("esp32-s3-eye"))

    assert parts(detail, "flash") == {
        "model": 100_000,
        "runtime code (core, TFLite-Micro, camera driver, sketch)": 500 * KiB,
        "reserved outside the app partition": 5 * MiB,
    }
    assert detail["flash"]["runtime_bytes"] == 500 * KiB
    assert detail["flash"]["reserved_bytes"] == 5 * MiB
    assert detail["flash"]["estimate_bytes"] == 100_000 + 500 * KiB + 5 * MiB


def test_the_camera_frame_is_its_own_part_of_the_ram_and_grows_for_rgb() -> None:
    nano = get_board("nano33ble")
    gray, rgb = detail_for(nano, 1), detail_for(nano, 3)

    assert parts(gray, "ram") == {
        "tensor arena (with margin)": tensor_arena_bytes(40_000),
        "input buffer": 96 * 96,
        "runtime (core globals, stacks, buffers)": 48 * KiB,
        "camera frame buffer": 176 * 144,
    }
    assert parts(rgb, "ram")["camera frame buffer"] == 2 * 176 * 144
    assert gray["ram"]["runtime_bytes"] == rgb["ram"]["runtime_bytes"] == 48 * KiB
    assert parts(gray, "flash")["reserved outside the app partition"] == 64 * KiB
    # Frames in PSRAM cost no SRAM, and a part of no bytes is not listed.
    assert "camera frame buffer" not in parts(detail_for(get_board("esp32-eye")), "ram")


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("board", list(BOARDS.values()), ids=list(BOARDS))
def test_the_labelled_parts_add_up_to_each_estimate(board: Board, channels: int) -> None:
    detail = detail_for(board, channels)

    for memory in ("ram", "flash"):
        assert sum(parts(detail, memory).values()) == detail[memory]["estimate_bytes"]


@pytest.mark.parametrize("board", list(BOARDS.values()), ids=list(BOARDS))
def test_no_user_facing_text_names_a_source_file(board: Board) -> None:
    texts = [board.name, board.mcu, board.camera, json.dumps(detail_for(board))]
    small = fit(board, model_bytes=10**9, arena_bytes=10**9, input_bytes=1).detail
    texts.append(json.dumps(small))

    assert not [text for text in texts if ".py" in text]
