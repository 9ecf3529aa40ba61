"""The bridge's answer to `fetch_frame`: a board's last inferred frame, as PNG.

A device object may offer `frame_of(seq)` (virtual devices keep their recent frames) or
`fetch_last_frame()` (the frame its last prediction was made on); either returns a `KeptFrame`
or None. A device with neither cannot send frames, and the server is told so. Real boards are
asked by the bridge with the serial LAST command (`Bridge._board_frame`).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from tinymlaas.devices import messages

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class KeptFrame:
    """A frame a board inferred on: the prediction's `seq` and the image file's bytes."""

    seq: int
    image: bytes


def as_png(image: bytes) -> bytes:
    """The image as PNG bytes (PNG is passed through); ValueError if it does not decode."""
    if image.startswith(PNG_SIGNATURE):
        return image
    try:
        with Image.open(io.BytesIO(image)) as opened:
            output = io.BytesIO()
            opened.save(output, format="PNG")
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"the frame is not a readable image: {error}") from error
    return output.getvalue()


def _frame(device: object, seq: int) -> KeptFrame | None | str:
    """The device's frame of `seq`, None, or why the device cannot send one."""
    frame_of = getattr(device, "frame_of", None)
    if callable(frame_of):
        frame: KeptFrame | None = frame_of(seq)
        return frame
    fetch = getattr(device, "fetch_last_frame", None)
    if not callable(fetch):
        return "not supported by this device: it cannot send its frames"
    last: KeptFrame | None = fetch()
    return last


def answer_fetch(
    device: object | None, message: messages.FetchFrame
) -> messages.ReviewFrame | messages.FrameUnavailable:
    """What the bridge sends back for a `fetch_frame` of `device` (None: no such board)."""

    def unavailable(detail: str) -> messages.FrameUnavailable:
        return messages.FrameUnavailable(port=message.port, seq=message.seq, detail=detail)

    if device is None:
        return unavailable(f"no board on {message.port}")
    try:
        frame = _frame(device, message.seq)
        if isinstance(frame, str):
            return unavailable(frame)
        if frame is None:
            return unavailable("the board holds no frame (no prediction yet)")
        if frame.seq != message.seq:
            return unavailable(
                f"the frame of seq {message.seq} is gone (the board is at {frame.seq})"
            )
        png = as_png(frame.image)
    except ValueError as error:
        return unavailable(str(error))
    except Exception as error:  # the device's own failure, reported to the server
        return unavailable(f"the board could not send its frame: {error!r}")
    return review_frame(message, png)


def review_frame(message: messages.FetchFrame, png: bytes) -> messages.ReviewFrame:
    """The `review_frame` answering `message` with a PNG file's bytes."""
    return messages.ReviewFrame(
        port=message.port, seq=message.seq, png=base64.b64encode(png).decode()
    )
