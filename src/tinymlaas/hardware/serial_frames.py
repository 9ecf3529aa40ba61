"""Binary frames of serial protocol version 2, and one reader for lines and frames (pure).

Version 2 adds binary frames beside the text lines of version 1 (docs/serial-protocol.md):

    A5 5A | kind (1) | seq (u32 LE) | length (u32 LE) | CRC-16 of kind..length (u16 LE)
          | payload (length bytes) | CRC-16 of the payload (u16 LE)

The header has a checksum of its own, so a corrupted length is noticed before anything waits
for its payload; a receiver refuses lengths above what it can hold (a board: its input tensor).
Sync bytes never occur in text lines (printable ASCII), so a receiver tells both apart at the
first byte. After a bad header the receiver resumes one byte later; after a bad payload right
behind the sync bytes, so a frame that was cut short never hides the next one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from tinymlaas.hardware.serial_protocol import LineReader, Message, crc16

SYNC = b"\xa5\x5a"
_HEADER = struct.Struct("<BII")  # kind, seq, length
HEADER_BYTES = len(SYNC) + _HEADER.size + 2
CHECKSUM_BYTES = 2
FRAME_OVERHEAD = HEADER_BYTES + CHECKSUM_BYTES
# Host → device: run the model on this int8 input tensor (answered by TRES or TERR).
TENSOR = 0x54  # "T"
# Device → host: a camera frame (answer to CAPTURE or LAST).
FRAME = 0x46  # "F"
KINDS = frozenset({TENSOR, FRAME})
MAX_SEQ = 2**32 - 1


# A FRAME payload: width (u16 LE), height (u16 LE), pixel format (u8), then the pixels row by
# row. Formats: 8-bit gray, RGB565 high byte first (as cameras give it), 8-bit RGB.
_FRAME_HEADER = struct.Struct("<HHB")
GRAY8, RGB565, RGB888 = 1, 2, 3
BYTES_PER_PIXEL = {GRAY8: 1, RGB565: 2, RGB888: 3}


@dataclass(frozen=True)
class CameraFrame:
    """A camera frame as a board sends it (uncompressed)."""

    width: int
    height: int
    pixel_format: int
    pixels: bytes

    def encode(self) -> bytes:
        """The FRAME payload; ValueError if the pixels do not match the size and format."""
        if self.pixel_format not in BYTES_PER_PIXEL or not (0 < self.width <= 0xFFFF):
            raise ValueError("unknown pixel format or bad width")
        expected = self.width * self.height * BYTES_PER_PIXEL[self.pixel_format]
        if not 0 < self.height <= 0xFFFF or len(self.pixels) != expected:
            raise ValueError(f"{len(self.pixels)} pixel bytes, the frame's size needs {expected}")
        return _FRAME_HEADER.pack(self.width, self.height, self.pixel_format) + self.pixels

    @classmethod
    def decode(cls, payload: bytes) -> CameraFrame:
        """Read a FRAME payload; ValueError naming what is wrong."""
        if len(payload) < _FRAME_HEADER.size:
            raise ValueError("a camera frame needs its 5-byte header")
        width, height, pixel_format = _FRAME_HEADER.unpack_from(payload)
        frame = cls(width, height, pixel_format, bytes(payload[_FRAME_HEADER.size :]))
        frame.encode()  # checks size and format
        return frame


@dataclass(frozen=True)
class BinaryFrame:
    """A complete frame whose checksums matched."""

    kind: int
    seq: int
    payload: bytes


@dataclass(frozen=True)
class CorruptFrame:
    """A frame with a valid header that cannot be used: too large, or its payload's checksum
    failed (bytes lost or changed on the way). The receiver answers for `seq` if it can."""

    kind: int
    seq: int
    reason: str


Incoming = Message | BinaryFrame | CorruptFrame


def encode_frame(kind: int, seq: int, payload: bytes) -> bytes:
    """Return one frame carrying `payload`; ValueError for an unknown kind or a bad seq."""
    if kind not in KINDS:
        raise ValueError(f"unknown frame kind {kind:#04x}")
    if not 0 <= seq <= MAX_SEQ:
        raise ValueError(f"seq must be within 0..{MAX_SEQ}")
    header = _HEADER.pack(kind, seq, len(payload))
    return (
        SYNC
        + header
        + crc16(header).to_bytes(2, "little")
        + payload
        + crc16(payload).to_bytes(2, "little")
    )


class StreamReader:
    """Split a byte stream into text messages and binary frames, surviving noise.

    Memory stays bounded: at most one frame of `max_payload` bytes plus its overhead is held,
    and text lines are bounded by LineReader. `dropped` counts frames refused or corrupted.
    """

    def __init__(self, max_payload: int) -> None:
        if max_payload < 0:
            raise ValueError("max_payload must not be negative")
        self.max_payload = max_payload
        self.dropped = 0
        self._lines = LineReader()
        self._pending = bytearray()  # from a sync byte on, while a frame is incomplete

    @property
    def partial(self) -> bool:
        """Whether part of a frame is waiting for more bytes."""
        return bool(self._pending)

    def feed(self, data: bytes) -> list[Incoming]:
        """Consume bytes and return the complete messages and frames (and corrupt frames)."""
        out: list[Incoming] = []
        buffer = self._pending + data
        self._pending = bytearray()
        position = 0
        while position < len(buffer):
            start = buffer.find(SYNC[0], position)
            if start < 0:
                out += self._lines.feed(bytes(buffer[position:]))
                break
            if start > position:
                out += self._lines.feed(bytes(buffer[position:start]))
            result = self._frame_at(buffer, start)
            if result is None:
                self._pending = buffer[start:]
                break
            item, position = result
            if item is not None:
                out.append(item)
        return out

    def abandon(self) -> list[Incoming]:
        """Give up a partial frame (its sender went quiet): what followed its sync bytes is
        read again, and any frame that starts there but is incomplete too is given up."""
        out: list[Incoming] = []
        if self._pending:
            self.dropped += 1
        while self._pending:
            pending, self._pending = self._pending, bytearray()
            out += self.feed(bytes(pending[len(SYNC) :]))
        return out

    def _frame_at(self, buffer: bytearray, start: int) -> tuple[Incoming | None, int] | None:
        """Read the frame at `start`: (item or None, where to go on), or None for more bytes."""
        if len(buffer) - start < HEADER_BYTES:
            if buffer[start : start + len(SYNC)] != SYNC[: len(buffer) - start]:
                return None, start + 1
            return None
        if buffer[start + 1] != SYNC[1]:
            return None, start + 1
        header = bytes(buffer[start + len(SYNC) : start + HEADER_BYTES - 2])
        checksum = int.from_bytes(buffer[start + HEADER_BYTES - 2 : start + HEADER_BYTES], "little")
        kind, seq, length = _HEADER.unpack(header)
        if crc16(header) != checksum or kind not in KINDS:
            return None, start + 1
        if length > self.max_payload:
            self.dropped += 1
            reason = f"frame of {length} bytes exceeds the {self.max_payload} this side takes"
            return CorruptFrame(kind, seq, reason), start + len(SYNC)
        end = start + HEADER_BYTES + length + CHECKSUM_BYTES
        if len(buffer) < end:
            return None
        payload = bytes(buffer[start + HEADER_BYTES : end - CHECKSUM_BYTES])
        if crc16(payload) != int.from_bytes(buffer[end - CHECKSUM_BYTES : end], "little"):
            self.dropped += 1
            # Rescan from behind the sync: a cut-short frame may hide the start of the next.
            return CorruptFrame(kind, seq, "payload checksum mismatch"), start + len(SYNC)
        return BinaryFrame(kind, seq, payload), end
