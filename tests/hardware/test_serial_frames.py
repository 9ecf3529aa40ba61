"""Binary frames of serial protocol version 2, and the reader of lines and frames together."""

from __future__ import annotations

import random

import pytest

from tinymlaas.hardware.serial_frames import (
    FRAME,
    FRAME_OVERHEAD,
    TENSOR,
    BinaryFrame,
    CorruptFrame,
    StreamReader,
    encode_frame,
)
from tinymlaas.hardware.serial_protocol import (
    Hello,
    Ping,
    TensorError,
    TensorResult,
    format_message,
    parse_line,
)

# Payload bytes that look like protocol: sync bytes, "$", newlines.
PAYLOAD = bytes([0xA5, 0x5A, 0x24, 0x0A, 0x00, 0xFF, 0x80, 0x7F]) * 4


def read_all(reader: StreamReader, data: bytes, step: int | None = None) -> list[object]:
    """Feed `data` at once, or `step` bytes at a time."""
    if step is None:
        return list(reader.feed(data))
    out: list[object] = []
    for start in range(0, len(data), step):
        out += reader.feed(data[start : start + step])
    return out


def test_a_frame_is_its_header_payload_and_two_checksums() -> None:
    # CRC-16/CCITT-FALSE of 54 02 01 00 00 03 00 00 00 is 0x24A1, of 01 02 03 0xADAD (LE).
    frame = encode_frame(TENSOR, 258, b"\x01\x02\x03")
    assert frame.hex(" ") == "a5 5a 54 02 01 00 00 03 00 00 00 a1 24 01 02 03 ad ad"
    assert len(frame) == 3 + FRAME_OVERHEAD


@pytest.mark.parametrize("step", [None, 1, 7])
def test_frames_and_lines_come_out_in_order_however_the_bytes_are_split(step: int | None) -> None:
    stream = (
        format_message(Ping())
        + encode_frame(TENSOR, 1, PAYLOAD)
        + format_message(TensorResult(1, 250, (-128, 0, 127)))
        + encode_frame(FRAME, 2, b"")
        + encode_frame(TENSOR, 3, PAYLOAD)
    )
    assert read_all(StreamReader(64), stream, step) == [
        Ping(),
        BinaryFrame(TENSOR, 1, PAYLOAD),
        TensorResult(1, 250, (-128, 0, 127)),
        BinaryFrame(FRAME, 2, b""),
        BinaryFrame(TENSOR, 3, PAYLOAD),
    ]


@pytest.mark.parametrize("position", [2, 5, 9, 11, 12, 20, len(PAYLOAD) + 14])
def test_any_changed_byte_is_caught_and_the_next_frame_still_read(position: int) -> None:
    damaged = bytearray(encode_frame(TENSOR, 1, PAYLOAD))
    damaged[position] ^= 0x04
    reader = StreamReader(64)
    out = reader.feed(bytes(damaged) + encode_frame(TENSOR, 2, PAYLOAD))
    assert BinaryFrame(TENSOR, 1, PAYLOAD) not in out
    assert out[-1] == BinaryFrame(TENSOR, 2, PAYLOAD)
    if position >= 13:  # a good header: the sender is told which frame failed
        assert out[0] == CorruptFrame(TENSOR, 1, "payload checksum mismatch")
        assert reader.dropped == 1


def test_a_frame_larger_than_announced_fails_and_the_reader_resynchronises() -> None:
    longer = encode_frame(TENSOR, 1, PAYLOAD)[:-2] + b"\x00\x11" + b"extra bytes"
    out = StreamReader(64).feed(longer + encode_frame(TENSOR, 2, PAYLOAD))
    assert out == [
        CorruptFrame(TENSOR, 1, "payload checksum mismatch"),
        BinaryFrame(TENSOR, 2, PAYLOAD),
    ]


def test_a_frame_larger_than_the_receiver_takes_is_refused_without_waiting_for_it() -> None:
    reader = StreamReader(16)
    out = reader.feed(encode_frame(TENSOR, 9, bytes(17))[:13])
    assert out == [CorruptFrame(TENSOR, 9, "frame of 17 bytes exceeds the 16 this side takes")]
    assert not reader.partial


def test_a_cut_frame_does_not_hide_the_next_one() -> None:
    cut = encode_frame(TENSOR, 1, PAYLOAD)[:20]
    out = StreamReader(64).feed(cut + encode_frame(TENSOR, 2, PAYLOAD) + format_message(Ping()))
    assert out[-2:] == [BinaryFrame(TENSOR, 2, PAYLOAD), Ping()]


def test_a_frame_left_half_sent_is_abandoned_and_what_followed_it_read() -> None:
    reader = StreamReader(64)
    assert reader.feed(encode_frame(TENSOR, 1, PAYLOAD)[:30]) == []
    assert reader.partial
    assert reader.abandon() == []
    assert not reader.partial
    assert reader.feed(format_message(Ping())) == [Ping()]


def test_random_noise_between_frames_never_yields_a_wrong_frame() -> None:
    rng = random.Random(5)
    frames = [encode_frame(TENSOR, seq, rng.randbytes(24)) for seq in range(200)]
    noise = [
        bytes(rng.choice(b"\xa5\x5a$\n\x00TML1,*") for _ in range(rng.randrange(30)))
        for _ in frames
    ]
    stream = b"".join(n + f for n, f in zip(noise, frames, strict=True))
    out = [item for item in read_all(StreamReader(64), stream, 13) if isinstance(item, BinaryFrame)]
    assert out == [StreamReader(64).feed(frame)[0] for frame in frames]


def test_memory_stays_bounded_whatever_arrives() -> None:
    reader = StreamReader(64)
    reader.feed(b"\xa5" + bytes(100_000) + b"$" * 10_000)
    assert not reader.partial


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        encode_frame(0x00, 1, b"")
    with pytest.raises(ValueError, match="seq"):
        encode_frame(TENSOR, 2**32, b"")


def test_a_version_one_hello_has_four_fields_and_a_version_two_one_five() -> None:
    old = format_message(Hello("ab" * 32, "nano33ble", ("a", "b"), (24, 24, 1)))
    new = format_message(Hello("ab" * 32, "nano33ble", ("a", "b"), (24, 24, 1), 2))
    assert new == old.replace(b"a;b*", b"a;b,2*")[:-6] + new[-6:]
    assert parse_line(old) == Hello("ab" * 32, "nano33ble", ("a", "b"), (24, 24, 1), 1)
    assert parse_line(new) == Hello("ab" * 32, "nano33ble", ("a", "b"), (24, 24, 1), 2)


@pytest.mark.parametrize(
    "message",
    [TensorResult(0, 0, (0,)), TensorResult(2**32 - 1, 10**9, (-128, 127)), TensorError(3, "a,b")],
)
def test_tensor_answers_round_trip(message: TensorResult | TensorError) -> None:
    assert parse_line(format_message(message)) == message


@pytest.mark.parametrize(
    "body", ["TML1,TRES,1,5,", "TML1,TRES,-1,5,1", "TML1,TRES,1,-5,1", "TML1,TRES,1,5,1;x"]
)
def test_malformed_tensor_answers_are_dropped(body: str) -> None:
    from tinymlaas.hardware.serial_protocol import crc16

    line = f"${body}*{crc16(body.encode()):04X}\n".encode()
    assert parse_line(line) is None
