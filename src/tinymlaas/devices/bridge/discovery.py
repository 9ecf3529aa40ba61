"""Find the boards plugged into this machine by their USB serial ports, and notice (un)plugging."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tinymlaas.hardware.boards import guess_board

VIRTUAL_BOARD = "virtual"


@dataclass(frozen=True)
class PortInfo:
    """One serial port and what is known about the device behind it."""

    port: str
    serial_number: str | None
    vid: int | None
    pid: int | None
    description: str
    # Catalog id guessed from the USB ids, "virtual" for virtual devices, None if unknown.
    board: str | None

    @property
    def key(self) -> tuple[str, str | None]:
        """Identity across polls: the same board replugged into another port is another device."""
        return self.port, self.serial_number


def port_info(listed: Any) -> PortInfo:
    """Convert one pyserial `ListPortInfo` into a PortInfo with a board guess."""
    vid: int | None = listed.vid
    pid: int | None = listed.pid
    board = guess_board(vid, pid) if vid is not None and pid is not None else None
    description = listed.description if listed.description not in (None, "n/a") else ""
    return PortInfo(
        port=str(listed.device),
        serial_number=listed.serial_number or None,
        vid=vid,
        pid=pid,
        description=str(description),
        board=board.id if board is not None else None,
    )


def list_serial_ports() -> list[PortInfo]:
    """Return the USB serial ports of this machine, sorted by port.

    Ports without a USB vendor id are built-in UARTs or Bluetooth links, never a board.
    """
    from serial.tools import list_ports

    found = [port_info(listed) for listed in list_ports.comports()]
    return sorted((info for info in found if info.vid is not None), key=lambda info: info.port)


class PortWatcher:
    """Poll-based plug/unplug detection over any port lister (real ports, virtual ones, both)."""

    def __init__(self, list_ports: Callable[[], list[PortInfo]]) -> None:
        self._list_ports = list_ports
        self._known: dict[tuple[str, str | None], PortInfo] = {}

    @property
    def current(self) -> list[PortInfo]:
        """The ports seen at the last poll."""
        return list(self._known.values())

    def poll(self) -> tuple[list[PortInfo], list[PortInfo]]:
        """Return (added, removed) since the last poll; the first poll reports all as added."""
        now = {info.key: info for info in self._list_ports()}
        added = [info for key, info in now.items() if key not in self._known]
        removed = [info for key, info in self._known.items() if key not in now]
        self._known = now
        return added, removed
