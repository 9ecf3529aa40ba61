"""Serial I/O behind a typed adapter, and the PING/HELLO handshake on top of it."""

from __future__ import annotations

import contextlib
import time
from types import TracebackType
from typing import Any, Protocol, Self

from tinymlaas.hardware.serial_protocol import Hello, LineReader, Ping, format_message

BAUDRATE = 115200
# A write that cannot drain within this long means the device stopped reading: fail, don't hang.
WRITE_TIMEOUT_SECONDS = 2.0
_PING = format_message(Ping())


class TransportError(OSError):
    """Opening, reading or writing a port failed (e.g. the board was unplugged)."""

    def __init__(self, port: str, action: str, cause: BaseException | str) -> None:
        self.port = port
        super().__init__(f"cannot {action} {port}: {cause}")


class Transport(Protocol):
    """A byte pipe to one device."""

    port: str

    def open(self) -> None:
        """Open the port; TransportError if it cannot be opened."""
        ...

    def write(self, data: bytes) -> None:
        """Send all of `data`; TransportError on failure."""
        ...

    def read(self, timeout: float) -> bytes:
        """Return whatever arrived within `timeout` seconds (b"" if nothing)."""
        ...

    def close(self) -> None:
        """Close the port; closing a closed port does nothing."""
        ...


class SerialTransport:
    """A serial port through pyserial: USB boards (/dev/ttyACM*) and pseudo-terminals alike."""

    def __init__(self, port: str, baudrate: int = BAUDRATE) -> None:
        self.port = port
        self.baudrate = baudrate
        self._serial: Any = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def is_open(self) -> bool:
        """Whether the port is open."""
        return self._serial is not None

    def open(self) -> None:
        """Open the port (8N1); pyserial discards whatever the device sent before this."""
        import serial

        if self._serial is not None:
            return
        try:
            self._serial = serial.Serial(
                self.port, self.baudrate, timeout=0, write_timeout=WRITE_TIMEOUT_SECONDS
            )
        except (serial.SerialException, OSError, ValueError) as error:
            raise TransportError(self.port, "open", error) from error

    def write(self, data: bytes) -> None:
        """Send all of `data`, waiting at most WRITE_TIMEOUT_SECONDS for it to drain."""
        connection = self._connection("write to")
        try:
            connection.write(data)
        except OSError as error:  # pyserial's SerialException and its timeout are OSErrors
            raise TransportError(self.port, "write to", error) from error

    def read(self, timeout: float) -> bytes:
        """Wait up to `timeout` seconds for the first byte, then take everything buffered."""
        connection = self._connection("read from")
        try:
            if connection.timeout != timeout:
                connection.timeout = timeout
            data: bytes = connection.read(1)
            if data:
                waiting = connection.in_waiting
                if waiting:
                    data += connection.read(waiting)
            return data
        except OSError as error:
            # An unplugged USB device (or a closed pseudo-terminal) reads as an error here.
            raise TransportError(self.port, "read from", error) from error

    def close(self) -> None:
        """Close the port; errors from a device that is already gone are ignored."""
        connection, self._serial = self._serial, None
        if connection is None:
            return
        # A device that is already gone may fail the close; the port is dropped either way.
        with contextlib.suppress(OSError):
            connection.close()

    def _connection(self, action: str) -> Any:
        """Return the open pyserial object or raise TransportError naming the port."""
        if self._serial is None:
            raise TransportError(self.port, action, "the port is not open")
        return self._serial


def handshake(
    transport: Transport,
    timeout: float = 3.0,
    attempts: int = 3,
    reader: LineReader | None = None,
) -> Hello | None:
    """Ping until the device says HELLO; None if it stays silent for `timeout` seconds.

    PING is sent `attempts` times, evenly spread over `timeout`, because a device busy booting
    or inferring may miss one. Predictions, errors and noise read meanwhile are dropped. Pass
    the `reader` that later reads the stream so a line split across the handover survives.
    """
    if attempts < 1 or timeout <= 0:
        raise ValueError("handshake needs at least one attempt and a positive timeout")
    reader = reader if reader is not None else LineReader()
    per_attempt = timeout / attempts
    for _ in range(attempts):
        transport.write(_PING)
        deadline = time.monotonic() + per_attempt
        while (remaining := deadline - time.monotonic()) > 0:
            hellos = [
                message
                for message in reader.feed(transport.read(remaining))
                if isinstance(message, Hello)
            ]
            if hellos:
                # The newest HELLO is the truth about the model on the device.
                return hellos[-1]
    return None
