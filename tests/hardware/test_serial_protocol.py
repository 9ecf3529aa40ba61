import random

import pytest

from tinymlaas.hardware.serial_protocol import (
    MAX_LINE_BYTES,
    DeviceError,
    Hello,
    LineReader,
    Message,
    Ping,
    Prediction,
    crc16,
    format_message,
    line_version,
    parse_line,
)

HELLO = Hello(
    model_id="3f" * 32,
    board="nano33ble",
    labels=("cat", "dog, big", "ünïcode 猫", "a;b=c*d%e$f"),
    input_shape=(96, 96, 1),
)
PREDICTION = Prediction(
    seq=41,
    label="dog, big",
    scores={"cat": 0.0625, "dog, big": 0.875, "ünïcode 猫": 0.0625, "a;b=c*d%e$f": 0.0},
    latency_ms=12.5,
    source="images/dogs, big/0001*.png\nnext",
)
MESSAGES: list[Message] = [
    Ping(),
    HELLO,
    Hello(model_id="none", board="virtual", labels=(), input_shape=(0, 0, 0)),
    PREDICTION,
    Prediction(seq=0, label="cat", scores={"cat": 1.0}, latency_ms=0.0),
    DeviceError("camera init failed: 0x20, retrying"),
]


@pytest.mark.parametrize("message", MESSAGES)
def test_round_trip(message: Message) -> None:
    line = format_message(message)

    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert line.isascii()
    assert parse_line(line) == message


def test_lines_are_readable_and_checksummed() -> None:
    assert format_message(Ping()) == b"$TML1,PING*AEDD\n"
    line = format_message(DeviceError("camera failed"))
    body, checksum = line[1:-1].split(b"*")

    assert body == b"TML1,ERR,camera failed"
    assert int(checksum, 16) == crc16(body)


def test_crc_is_ccitt_false() -> None:
    assert crc16(b"123456789") == 0x29B1


def test_prediction_layout() -> None:
    line = format_message(PREDICTION)

    assert line.startswith(b"$TML1,PRED,41,dog%2C big,12.500,cat=0.0625;dog%2C big=0.8750;")
    assert b",images/dogs%2C big/0001%2A.png%0Anext*" in line


def test_scores_are_rounded_to_four_decimals_and_clamped() -> None:
    message = Prediction(1, "a", {"a": 1.00000001, "b": 0.123456, "c": -0.0}, 3.14159)

    parsed = parse_line(format_message(message))

    assert isinstance(parsed, Prediction)
    assert parsed.scores == {"a": 1.0, "b": 0.1235, "c": 0.0}
    assert parsed.latency_ms == 3.142


def test_crlf_and_lowercase_checksum_are_accepted() -> None:
    line = format_message(HELLO)
    lower = line[:-5] + line[-5:-1].lower()

    assert parse_line(line[:-1] + b"\r\n") == HELLO
    assert parse_line(lower) == HELLO


def test_noise_before_the_frame_is_ignored() -> None:
    assert parse_line(b"\x00\xff garbage $$" + format_message(Ping())) == Ping()


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"hello world\n",
        b"$TML1,PING*AEDE\n",  # checksum off by one
        b"$TML1,PING\n",
        b"$TML1,PING*AED\n",
        b"$TML1,BOGUS*0000\n",
    ],
)
def test_bad_lines_are_none(line: bytes) -> None:
    assert parse_line(line) is None


def corrupt(line: bytes, index: int) -> bytes:
    """Flip one bit of one byte."""
    return line[:index] + bytes([line[index] ^ 0x04]) + line[index + 1 :]


@pytest.mark.parametrize("message", MESSAGES)
def test_any_single_corrupted_byte_is_rejected(message: Message) -> None:
    line = format_message(message)

    for index in range(len(line) - 1):
        assert parse_line(corrupt(line, index)) is None


def test_unknown_type_and_other_versions_are_none_but_versions_are_visible() -> None:
    def framed(body: bytes) -> bytes:
        return b"$" + body + b"*" + f"{crc16(body):04X}".encode() + b"\n"

    assert parse_line(framed(b"TML1,STATUS,ok")) is None
    assert parse_line(framed(b"TML2,PING")) is None
    assert line_version(framed(b"TML2,HELLO,whatever")) == 2
    assert line_version(framed(b"TML1,PING")) == 1
    assert line_version(b"$TML2,HELLO*0000\n") is None


def test_extra_trailing_fields_from_a_later_minor_change_are_ignored() -> None:
    body = b"TML1,ERR,arena too small,E42"
    line = b"$" + body + b"*" + f"{crc16(body):04X}".encode() + b"\n"

    assert parse_line(line) == DeviceError("arena too small")


@pytest.mark.parametrize(
    "body",
    [
        b"TML1,PRED,1,cat,1.0,cat=1.5",  # score above 1
        b"TML1,PRED,1,dog,1.0,cat=1.0",  # top label has no score
        b"TML1,PRED,-1,cat,1.0,cat=1.0",
        b"TML1,PRED,1,cat,nan,cat=1.0",
        b"TML1,PRED,1,cat,1e3,cat=1.0",
        b"TML1,PRED,1,cat,1.0,cat=1.0;cat=0.5",
        b"TML1,PRED,1,cat,1.0",
        b"TML1,HELLO,none,virtual,96x96",
        b"TML1,HELLO,none,virtual,96x96x1,a;;b",
        b"TML1,ERR,100%",
        b"TML1,ERR,%FF",  # not UTF-8
        b"TML1,ERR,tab\there",
    ],
)
def test_malformed_fields_are_none(body: bytes) -> None:
    line = b"$" + body + b"*" + f"{crc16(body):04X}".encode() + b"\n"

    assert parse_line(line) is None


def test_format_refuses_what_cannot_be_parsed_back() -> None:
    with pytest.raises(ValueError, match="no score"):
        format_message(Prediction(1, "dog", {"cat": 1.0}, 1.0))
    with pytest.raises(ValueError, match="finite"):
        format_message(Prediction(1, "cat", {"cat": float("nan")}, 1.0))
    with pytest.raises(ValueError, match="empty"):
        format_message(Hello("none", "virtual", ("",), (1, 1, 1)))
    with pytest.raises(ValueError, match="exceeds"):
        format_message(DeviceError("%" * MAX_LINE_BYTES))


def test_reader_returns_only_valid_messages_among_noise() -> None:
    stream = (
        b"\x00\xfe\xff boot noise\r\n"
        + format_message(HELLO)
        + b"partial $TML1,PRED,1,ca"
        + b"\n"
        + corrupt(format_message(PREDICTION), 10)
        + format_message(PREDICTION)[:-1]
        + b"\r\n"
        + b"$$$$\n"
        + format_message(DeviceError("camera"))
    )

    assert LineReader().feed(stream) == [HELLO, PREDICTION, DeviceError("camera")]


def test_reader_handles_lines_split_at_every_byte() -> None:
    stream = b"".join(format_message(message) for message in MESSAGES)
    reader = LineReader()

    received = [message for byte in stream for message in reader.feed(bytes([byte]))]

    assert received == MESSAGES


@pytest.mark.parametrize("split", [1, 7, 50, 500])
def test_reader_handles_arbitrary_chunks(split: int) -> None:
    stream = b"noise" + b"".join(format_message(message) for message in MESSAGES) * 3
    reader = LineReader()

    chunks = [stream[start : start + split] for start in range(0, len(stream), split)]
    received = [message for chunk in chunks for message in reader.feed(chunk)]

    assert received == MESSAGES * 3


def test_reader_keeps_a_partial_line_until_it_completes() -> None:
    line = format_message(PREDICTION)
    reader = LineReader()

    assert reader.feed(line[:20]) == []
    assert reader.feed(line[20:-1]) == []
    assert reader.feed(line[-1:]) == [PREDICTION]


def test_reader_drops_an_over_long_line_and_recovers() -> None:
    reader = LineReader()
    huge = b"$TML1,ERR," + b"x" * (10 * MAX_LINE_BYTES)

    assert reader.feed(huge[:5000]) == []
    assert reader.feed(huge[5000:]) == []
    assert reader._frame is None  # nothing of the over-long line is kept
    assert reader.feed(b"\n" + format_message(Ping())) == [Ping()]


def test_reader_resyncs_on_dollar_inside_an_unterminated_line() -> None:
    reader = LineReader()

    assert reader.feed(b"$TML1,PRED,3,cat,1.0,ca" + format_message(HELLO)) == [HELLO]


def test_reader_survives_binary_noise() -> None:
    rng = random.Random(7)
    noise = bytes(rng.randrange(256) for _ in range(20_000))
    reader = LineReader()

    received = reader.feed(noise + b"\n" + format_message(HELLO))

    # Random bytes practically never form a checksummed line; the real one must come through.
    assert received[-1:] == [HELLO]
    assert all(message == HELLO for message in received)


def test_property_round_trip() -> None:
    hypothesis = pytest.importorskip("hypothesis")
    strategies = pytest.importorskip("hypothesis.strategies")

    labels = strategies.lists(
        strategies.text(min_size=1, max_size=20), min_size=1, max_size=8, unique=True
    )

    @hypothesis.given(
        labels=labels, source=strategies.text(max_size=40), seq=strategies.integers(0, 2**32)
    )
    def check(labels: list[str], source: str, seq: int) -> None:
        hello = Hello("none", "virtual", tuple(labels), (96, 96, 3))
        prediction = Prediction(seq, labels[0], dict.fromkeys(labels, 0.5), 1.25, source or None)
        assert LineReader().feed(format_message(hello) + format_message(prediction)) == [
            hello,
            prediction,
        ]

    check()
