"""The bridge's answer to `fetch_frame`: the frame as PNG, or why the board cannot send it."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest
from PIL import Image

from tinymlaas.devices import messages
from tinymlaas.devices.bridge.client import PortReader
from tinymlaas.devices.bridge.frames import KeptFrame, answer_fetch, as_png
from tinymlaas.devices.bridge.virtual import VirtualDevice

from support.factories import image_bytes

FETCH = messages.FetchFrame(port="/dev/ttyACM0", seq=5)


class BoardWithLastFrame:
    """What a board that can send its last inferred frame offers the bridge."""

    def __init__(self, frame: KeptFrame | None) -> None:
        self.frame = frame

    def fetch_last_frame(self) -> KeptFrame | None:
        return self.frame


@pytest.fixture
def idle_virtual_device() -> Iterator[VirtualDevice]:
    device = VirtualDevice(0, [("cat/1.png", image_bytes())])
    yield device
    device.stop()


def test_the_frame_of_the_asked_prediction_comes_back_as_png() -> None:
    jpeg = image_bytes("JPEG", size=(20, 10))
    answer = answer_fetch(BoardWithLastFrame(KeptFrame(5, jpeg)), FETCH)
    assert isinstance(answer, messages.ReviewFrame)
    assert (answer.port, answer.seq) == ("/dev/ttyACM0", 5)
    png = base64.b64decode(answer.png)
    with Image.open(io.BytesIO(png)) as image:
        assert (image.format, image.size) == ("PNG", (20, 10))
    already_png = image_bytes("PNG")
    assert as_png(already_png) == already_png


@pytest.mark.parametrize(
    ("device", "detail"),
    [
        (None, "no board on /dev/ttyACM0"),
        (BoardWithLastFrame(None), "the board holds no frame (no prediction yet)"),
        (
            BoardWithLastFrame(KeptFrame(9, image_bytes())),
            "the frame of seq 5 is gone (the board is at 9)",
        ),
        (BoardWithLastFrame(KeptFrame(5, b"garbage")), "the frame is not a readable image"),
        (PortReader("/dev/ttyACM0", print), "not supported by this device"),
        (BoardWithLastFrame(b"raw bytes"), "the board could not send its frame: AttributeError"),  # type: ignore[arg-type]
    ],
)
def test_a_frame_the_board_cannot_give_is_answered_with_the_reason(
    device: object, detail: str
) -> None:
    answer = answer_fetch(device, FETCH)
    assert isinstance(answer, messages.FrameUnavailable)
    assert (answer.port, answer.seq) == ("/dev/ttyACM0", 5)
    assert answer.detail.startswith(detail)


def test_a_virtual_device_without_a_model_has_no_frame_yet(
    idle_virtual_device: VirtualDevice,
) -> None:
    assert idle_virtual_device.fetch_last_frame() is None
    answer = answer_fetch(idle_virtual_device, FETCH)
    assert isinstance(answer, messages.FrameUnavailable)
    assert "holds no frame" in answer.detail
