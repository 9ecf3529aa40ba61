"""SerialTransport and the handshake over real pseudo-terminals with real pyserial."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tinymlaas.devices.bridge.transports import SerialTransport, TransportError, handshake
from tinymlaas.hardware.serial_protocol import (
    DeviceError,
    Hello,
    LineReader,
    Message,
    Ping,
    Prediction,
    format_message,
)

PING = format_message(Ping())
HELLO = Hello("ab" * 32, "nano33ble", ("cat", "dog, big"), (96, 96, 1))
PREDICTION = Prediction(3, "cat", {"cat": 0.75, "dog, big": 0.25}, 1.5, "a/b.png")


@dataclass
class Pty:
    """The device end (master fd) of a pseudo-terminal and the path a host opens."""

    master: int
    slave: int
    path: str

    def read_available(self, timeout: float) -> bytes:
        """Return what the host wrote within `timeout` seconds."""
        data = b""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], remaining)
            if not ready:
                break
            data += os.read(self.master, 4096)
        return data


@pytest.fixture
def pty() -> Iterator[Pty]:
    master, slave = os.openpty()
    tty.setraw(slave)
    pair = Pty(master, slave, os.ttyname(slave))
    yield pair
    for descriptor in (pair.master, pair.slave):
        # The test may have closed it already (an "unplugged" device).
        with contextlib.suppress(OSError):
            os.close(descriptor)


@pytest.fixture
def transport(pty: Pty) -> Iterator[SerialTransport]:
    with SerialTransport(pty.path) as opened:
        yield opened


def test_bytes_travel_both_ways(pty: Pty, transport: SerialTransport) -> None:
    transport.write(b"host says hi\n")
    assert pty.read_available(0.3) == b"host says hi\n"
    os.write(pty.master, b"device \x00\xff answers\n")
    assert transport.read(1.0) == b"device \x00\xff answers\n"


def test_read_waits_for_the_timeout_and_returns_nothing_when_silent(
    transport: SerialTransport,
) -> None:
    started = time.monotonic()
    assert transport.read(0.3) == b""
    assert 0.25 <= time.monotonic() - started < 1.0


def test_read_returns_as_soon_as_data_arrives(pty: Pty, transport: SerialTransport) -> None:
    threading.Timer(0.1, os.write, (pty.master, b"late\n")).start()
    started = time.monotonic()
    assert transport.read(5.0) == b"late\n"
    assert time.monotonic() - started < 1.0


def test_opening_a_missing_port_names_it() -> None:
    with pytest.raises(TransportError, match="/dev/tinymlaas-no-such-port"):
        SerialTransport("/dev/tinymlaas-no-such-port").open()


def test_a_closed_transport_refuses_io_with_the_port_named(pty: Pty) -> None:
    transport = SerialTransport(pty.path)
    with pytest.raises(TransportError, match=f"{pty.path}: the port is not open"):
        transport.read(0.1)
    transport.open()
    transport.close()
    transport.close()
    with pytest.raises(TransportError, match="not open"):
        transport.write(PING)


def test_an_unplugged_device_raises_instead_of_hanging(
    pty: Pty, transport: SerialTransport
) -> None:
    os.close(pty.master)
    os.close(pty.slave)
    started = time.monotonic()
    with pytest.raises(TransportError, match=pty.path):
        transport.read(5.0)
    assert time.monotonic() - started < 1.0


def test_garbage_on_the_line_does_not_hide_valid_lines(
    pty: Pty, transport: SerialTransport
) -> None:
    prediction, hello = format_message(PREDICTION), format_message(HELLO)
    stream = b"".join(
        [
            b"\x00\xffboot banner\r\n$TML1,PRED,1,ca",  # noise, then a half line cut by a reset
            hello,
            b"$TML1,PRED,2,cat*0000\n",  # bad checksum
            prediction[:20],
            prediction[20:],
            b"$" * 5000 + b"\n",  # over-long
            format_message(DeviceError("camera capture failed")),
        ]
    )
    for start in range(0, len(stream), 700):  # arrives in chunks, as over a UART
        os.write(pty.master, stream[start : start + 700])
    reader = LineReader()
    messages: list[Message] = []
    deadline = time.monotonic() + 3
    while len(messages) < 3 and time.monotonic() < deadline:
        messages += reader.feed(transport.read(0.2))
    assert messages == [HELLO, PREDICTION, DeviceError("camera capture failed")]


def test_handshake_keeps_pinging_through_noise_until_the_device_answers(
    pty: Pty, transport: SerialTransport
) -> None:
    pings_seen: list[Ping] = []

    def device() -> None:
        # Busy first (misses PING one), then answers PING two amid predictions and noise.
        reader = LineReader()
        while len(pings_seen) < 2:
            ready, _, _ = select.select([pty.master], [], [], 3.0)
            if not ready:
                return
            messages = reader.feed(os.read(pty.master, 1024))
            pings_seen.extend(message for message in messages if isinstance(message, Ping))
            os.write(pty.master, b"garbage$$\n" + format_message(PREDICTION))
        line = format_message(HELLO)
        os.write(pty.master, b"noise" + line[:10])
        time.sleep(0.05)
        os.write(pty.master, line[10:] + format_message(PREDICTION))

    thread = threading.Thread(target=device)
    thread.start()
    assert handshake(transport, timeout=3.0, attempts=6) == HELLO
    thread.join()
    assert len(pings_seen) == 2


def test_handshake_gives_up_after_its_attempts_when_nobody_answers(
    pty: Pty, transport: SerialTransport
) -> None:
    started = time.monotonic()
    assert handshake(transport, timeout=0.6, attempts=3) is None
    assert 0.55 <= time.monotonic() - started < 1.5
    assert pty.read_available(0.1) == PING * 3


def test_handshake_takes_the_newest_hello(pty: Pty, transport: SerialTransport) -> None:
    newer = Hello("cd" * 32, "nano33ble", ("cat",), (96, 96, 1))
    os.write(pty.master, format_message(HELLO) + format_message(newer))
    assert handshake(transport, timeout=1.0, attempts=1) == newer


def test_handshake_rejects_nonsense_arguments(transport: SerialTransport) -> None:
    with pytest.raises(ValueError, match="at least one attempt"):
        handshake(transport, timeout=1.0, attempts=0)
