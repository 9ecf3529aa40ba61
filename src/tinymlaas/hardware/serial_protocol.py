"""The TinyMLaaS serial protocol: format, parse and split device lines.

Version 1 is text lines only. Version 2 keeps every line of version 1 (still framed "$TML1",
so a version-1 host reads a version-2 board) and adds binary frames (`serial_frames.py`) and the
TRES/TERR answers; a board says it speaks version 2 in its HELLO's fifth field.
Grammar and rationale: docs/serial-protocol.md. Pure: no I/O, never raises on input bytes.
"""

import binascii
import math
import re
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

PROTOCOL_VERSION = 1
# The newest version a board may announce in its HELLO (its lines stay framed "$TML1").
LATEST_PROTOCOL = 2
# Longest line, from "$" through "\n"; longer input is dropped as noise.
MAX_LINE_BYTES = 4096
SCORE_DECIMALS = 4
LATENCY_DECIMALS = 3
NO_MODEL = "none"

_PREFIX = f"TML{PROTOCOL_VERSION}"
_FRAME = re.compile(rb"\$(TML[0-9]{1,3}),([A-Z]+)((?:,[^*]*)?)\*([0-9A-Fa-f]{4})")
_VERSION = re.compile(rb"\$TML([0-9]{1,3}),[^*]*\*([0-9A-Fa-f]{4})")
_UNSIGNED = re.compile(r"[0-9]{1,20}")
_DECIMAL = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,9})?")
_SIGNED = re.compile(r"-?[0-9]{1,11}")
_VERSION_FIELD = re.compile(r"[0-9]{1,3}")
_SHAPE = re.compile(r"([0-9]{1,6})x([0-9]{1,6})x([0-9]{1,6})")
# Printable ASCII except the protocol's delimiters and the escape character itself.
_RESERVED = frozenset(b"$*,;=%")
_SAFE_BYTES = frozenset(range(0x20, 0x7F)) - _RESERVED
_ESCAPES = tuple(chr(byte) if byte in _SAFE_BYTES else f"%{byte:02X}" for byte in range(256))
_SAFE_CHARS = frozenset(chr(byte) for byte in _SAFE_BYTES)
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


@dataclass(frozen=True)
class Ping:
    """Host → device: please answer with a Hello."""


@dataclass(frozen=True)
class Hello:
    """Device → host: who I am and which model I run (model_id "none" when none)."""

    model_id: str
    board: str
    labels: tuple[str, ...]
    input_shape: tuple[int, int, int]  # width, height, channels
    # 1 for boards that do not say; 2 and up take binary frames (e.g. a TENSOR to test).
    protocol: int = 1


@dataclass(frozen=True)
class Prediction:
    """Device → host: one inference; `scores` holds every label in label order."""

    seq: int
    label: str
    scores: dict[str, float] = field(hash=False)
    latency_ms: float
    source: str | None = None


@dataclass(frozen=True)
class DeviceError:
    """Device → host: something failed (camera, arena allocation, invoke)."""

    message: str


@dataclass(frozen=True)
class TensorResult:
    """Device → host (v2): the answer to the TENSOR frame `seq`: the output tensor's raw
    values (int8) and the inference's latency in microseconds."""

    seq: int
    latency_us: int
    scores: tuple[int, ...]


@dataclass(frozen=True)
class TensorError:
    """Device → host (v2): the TENSOR frame `seq` was not run (checksum, size, invoke)."""

    seq: int
    message: str


@dataclass(frozen=True)
class Capture:
    """Host → device (v2): capture a camera frame now and send it as FRAME `seq`."""

    seq: int


@dataclass(frozen=True)
class LastFrame:
    """Host → device (v2): send the frame of the latest inference as FRAME `seq`."""

    seq: int


Message = Hello | Prediction | DeviceError | Ping | TensorResult | TensorError | Capture | LastFrame


def crc16(data: bytes) -> int:
    """Return the CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of `data`."""
    return binascii.crc_hqx(data, 0xFFFF)


def encode_text(text: str) -> str:
    """Percent-encode UTF-8 `text` so it holds no delimiter, control or non-ASCII byte."""
    return "".join(_ESCAPES[byte] for byte in text.encode())


def decode_text(text: str) -> str:
    """Undo encode_text; raise ValueError on an unescaped delimiter, stray "%" or bad UTF-8."""
    if not all(char in _SAFE_CHARS for char in _ESCAPE.sub("", text)):
        raise ValueError("field holds a byte that must be escaped")
    return unquote_to_bytes(text).decode("utf-8")


def fixed(value: float, decimals: int) -> str:
    """Format a non-negative value with `decimals` digits, rounding half up like the C side."""
    scale = 10**decimals
    scaled = math.floor(value * scale + 0.5)
    whole, fraction = divmod(scaled, scale)
    return f"{whole}.{fraction:0{decimals}d}"


def _hello_fields(message: Hello) -> list[str]:
    """A HELLO's fields; version 1 boards send four, the fifth is there from version 2 on."""
    if any(not label for label in message.labels):
        raise ValueError("labels must not be empty")
    if any(size < 0 for size in message.input_shape):
        raise ValueError("input shape must not be negative")
    width, height, channels = message.input_shape
    hello = [
        encode_text(message.model_id),
        encode_text(message.board),
        f"{width}x{height}x{channels}",
        ";".join(encode_text(label) for label in message.labels),
    ]
    return hello + ([str(message.protocol)] if message.protocol > 1 else [])


def _fields(message: Message) -> tuple[str, list[str]]:
    """Return the message type and its encoded fields."""
    if isinstance(message, Ping):
        return "PING", []
    if isinstance(message, Hello):
        return "HELLO", _hello_fields(message)
    if isinstance(message, Prediction):
        if message.label not in message.scores:
            raise ValueError(f"top label {message.label!r} has no score")
        if message.seq < 0:
            raise ValueError("seq must not be negative")
        values = [*message.scores.values(), message.latency_ms]
        if not all(math.isfinite(value) for value in values) or message.latency_ms < 0:
            raise ValueError("scores and latency must be finite and latency non-negative")
        # Clamped exactly as the device's C code clamps, so both print the same line.
        scores = ";".join(
            f"{encode_text(label)}={fixed(min(max(score, 0.0), 1.0), SCORE_DECIMALS)}"
            for label, score in message.scores.items()
        )
        fields = [
            str(message.seq),
            encode_text(message.label),
            fixed(message.latency_ms, LATENCY_DECIMALS),
            scores,
        ]
        if message.source is not None:
            fields.append(encode_text(message.source))
        return "PRED", fields
    if isinstance(message, TensorResult | TensorError | Capture | LastFrame):
        return _v2_fields(message)
    return "ERR", [encode_text(message.message)]


def _v2_fields(message: TensorResult | TensorError | Capture | LastFrame) -> tuple[str, list[str]]:
    """The fields of the messages version 2 added."""
    if message.seq < 0:
        raise ValueError("seq must not be negative")
    if isinstance(message, Capture | LastFrame):
        return "CAPTURE" if isinstance(message, Capture) else "LAST", [str(message.seq)]
    if isinstance(message, TensorError):
        return "TERR", [str(message.seq), encode_text(message.message)]
    if message.latency_us < 0 or not message.scores:
        raise ValueError("a TRES needs scores and a non-negative latency")
    scores = ";".join(str(int(score)) for score in message.scores)
    return "TRES", [str(message.seq), str(message.latency_us), scores]


def format_message(message: Message) -> bytes:
    """Return `message` as one protocol line ending in "\\n"; ValueError if it cannot be sent."""
    message_type, fields = _fields(message)
    body = ",".join([_PREFIX, message_type, *fields]).encode("ascii")
    line = b"$" + body + b"*" + f"{crc16(body):04X}".encode() + b"\n"
    if len(line) > MAX_LINE_BYTES:
        raise ValueError(f"line of {len(line)} bytes exceeds {MAX_LINE_BYTES}")
    return line


def _frame(line: bytes) -> bytes | None:
    """Return the framed part of a line (from its last "$", without "\\r\\n"), if any."""
    start = line.rfind(b"$")
    if start < 0:
        return None
    frame = line[start:]
    if frame.endswith(b"\n"):
        frame = frame[:-1]
    if frame.endswith(b"\r"):
        frame = frame[:-1]
    if len(frame) + 1 > MAX_LINE_BYTES:
        return None
    return frame


def _checksum_ok(frame: bytes, checksum: bytes) -> bool:
    """Return whether the hex checksum matches the bytes between "$" and "*"."""
    body = frame[1 : frame.rindex(b"*")]
    return crc16(body) == int(checksum, 16)


def line_version(line: bytes) -> int | None:
    """Return the protocol version of a well-framed, checksummed line of any version.

    Lets a host tell "this device speaks another protocol version" apart from noise.
    """
    frame = _frame(line)
    if frame is None:
        return None
    match = _VERSION.fullmatch(frame)
    if match is None or not _checksum_ok(frame, match.group(2)):
        return None
    return int(match.group(1))


def _parse_shape(text: str) -> tuple[int, int, int]:
    """Parse "WxHxC"."""
    match = _SHAPE.fullmatch(text)
    if match is None:
        raise ValueError("bad input shape")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def _parse_decimal(text: str) -> float:
    """Parse a plain non-negative decimal (no sign, exponent, nan or underscores)."""
    if _DECIMAL.fullmatch(text) is None:
        raise ValueError("bad number")
    return float(text)


def _parse_hello(fields: list[str]) -> Hello:
    """Build a Hello from its fields; the fifth, from version 2 on, is the board's version."""
    model_id, board, shape, labels = fields[:4]
    decoded = tuple(decode_text(label) for label in labels.split(";")) if labels else ()
    if any(not label for label in decoded):
        raise ValueError("empty label")
    protocol = 1
    if len(fields) > 4 and _VERSION_FIELD.fullmatch(fields[4]):
        protocol = int(fields[4])
    return Hello(decode_text(model_id), decode_text(board), decoded, _parse_shape(shape), protocol)


def _parse_v2(name: str, fields: list[str]) -> TensorResult | TensorError | Capture | LastFrame:
    """Build a TRES (seq, latency in µs, raw scores), a TERR (seq, message), a CAPTURE or a
    LAST (seq)."""
    if _UNSIGNED.fullmatch(fields[0]) is None:
        raise ValueError("bad seq")
    seq = int(fields[0])
    if name in ("CAPTURE", "LAST"):
        return Capture(seq) if name == "CAPTURE" else LastFrame(seq)
    if name == "TERR":
        return TensorError(seq, decode_text(fields[1]))
    if _UNSIGNED.fullmatch(fields[1]) is None:
        raise ValueError("bad latency")
    if any(_SIGNED.fullmatch(score) is None for score in fields[2].split(";")):
        raise ValueError("bad score")
    return TensorResult(seq, int(fields[1]), tuple(int(s) for s in fields[2].split(";")))


def _parse_prediction(fields: list[str]) -> Prediction:
    """Build a Prediction from its fields; the source field is optional."""
    seq, label, latency, pairs = fields[:4]
    if _UNSIGNED.fullmatch(seq) is None:
        raise ValueError("bad seq")
    scores: dict[str, float] = {}
    for pair in pairs.split(";"):
        name, _, score = pair.partition("=")
        key = decode_text(name)
        value = _parse_decimal(score)
        if not key or key in scores or value > 1.0:
            raise ValueError("bad score")
        scores[key] = value
    top = decode_text(label)
    if top not in scores:
        raise ValueError("top label has no score")
    source = decode_text(fields[4]) if len(fields) > 4 and fields[4] else None
    return Prediction(int(seq), top, scores, _parse_decimal(latency), source)


_MIN_FIELDS = {
    "PING": 0, "HELLO": 4, "PRED": 4, "ERR": 1, "TRES": 3, "TERR": 2, "CAPTURE": 1, "LAST": 1,
}  # fmt: skip


def parse_line(line: bytes) -> Message | None:
    """Return the message in one line, or None for noise, a bad checksum or another version."""
    frame = _frame(line)
    match = _FRAME.fullmatch(frame) if frame is not None else None
    if match is None or frame is None:
        return None
    prefix, message_type, rest, checksum = match.groups()
    if prefix != _PREFIX.encode() or not _checksum_ok(frame, checksum):
        return None
    fields = rest.decode("ascii", "replace")[1:].split(",") if rest else []
    name = message_type.decode()
    if name not in _MIN_FIELDS or len(fields) < _MIN_FIELDS[name]:
        return None
    try:
        if name == "PING":
            return Ping()
        if name == "HELLO":
            return _parse_hello(fields)
        if name == "PRED":
            return _parse_prediction(fields)
        if name in ("TRES", "TERR", "CAPTURE", "LAST"):
            return _parse_v2(name, fields)
        return DeviceError(decode_text(fields[0]))
    except ValueError:
        return None


class LineReader:
    """Split a byte stream into messages, surviving noise, partial and over-long lines.

    Only bytes from a "$" up to the next "\\n" are kept, at most MAX_LINE_BYTES of them, so
    memory stays bounded whatever arrives; a "$" always starts a new frame because it
    cannot occur inside one.
    """

    def __init__(self) -> None:
        self._frame: bytearray | None = None

    def feed(self, data: bytes) -> list[Message]:
        """Consume bytes and return the complete, valid messages they finish."""
        messages: list[Message] = []
        position = 0
        while position < len(data):
            newline = data.find(b"\n", position)
            end = len(data) if newline < 0 else newline
            dollar = data.rfind(b"$", position, end)
            if dollar >= 0:
                # Whatever came before this "$" was noise or a truncated frame.
                self._frame = (
                    bytearray(data[dollar:end]) if end - dollar <= MAX_LINE_BYTES else None
                )
            elif self._frame is not None:
                if len(self._frame) + end - position > MAX_LINE_BYTES:
                    self._frame = None
                else:
                    self._frame += data[position:end]
            if newline < 0:
                break
            if self._frame is not None:
                message = parse_line(bytes(self._frame))
                if message is not None:
                    messages.append(message)
            self._frame = None
            position = newline + 1
        return messages
