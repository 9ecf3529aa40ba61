"""Serial port discovery: pyserial's port records → PortInfo with a board guess; plug/unplug."""

from __future__ import annotations

import os

from serial.tools.list_ports_common import ListPortInfo

from tinymlaas.devices.bridge.discovery import PortInfo, PortWatcher, list_serial_ports, port_info


def listed(
    device: str,
    vid: int | None = None,
    pid: int | None = None,
    serial_number: str | None = None,
    description: str = "n/a",
) -> ListPortInfo:
    """A real pyserial port record, filled in as the Linux sysfs scan fills it."""
    record = ListPortInfo(device, skip_link_detection=True)
    record.vid, record.pid, record.serial_number = vid, pid, serial_number
    record.description = description
    return record


def usb(port: str, serial_number: str | None, board: str | None = "nano33ble") -> PortInfo:
    return PortInfo(port, serial_number, 0x2341, 0x805A, "Nano 33 BLE", board)


def test_a_known_usb_id_is_guessed_as_its_catalog_board() -> None:
    record = listed("/dev/ttyACM0", 0x2341, 0x805A, "8A2D1F0E", "Nano 33 BLE")
    assert port_info(record) == PortInfo(
        "/dev/ttyACM0", "8A2D1F0E", 0x2341, 0x805A, "Nano 33 BLE", "nano33ble"
    )
    # The same board in its bootloader (after a double-tap reset) has another product id.
    assert port_info(listed("/dev/ttyACM0", 0x2341, 0x005A)).board == "nano33ble"
    assert port_info(listed("/dev/ttyACM1", 0x2E8A, 0x000A)).board == "pico"


def test_an_unknown_usb_id_leaves_the_board_open_and_blanks_na() -> None:
    info = port_info(listed("/dev/ttyUSB0", 0x10C4, 0xEA60, ""))
    assert info == PortInfo("/dev/ttyUSB0", None, 0x10C4, 0xEA60, "", None)


def test_list_serial_ports_keeps_only_usb_ports_and_no_pseudo_terminals() -> None:
    master, slave = os.openpty()
    try:
        ports = list_serial_ports()
        assert isinstance(ports, list)
        assert all(isinstance(info, PortInfo) and info.vid is not None for info in ports)
        assert os.ttyname(slave) not in {info.port for info in ports}
    finally:
        os.close(master)
        os.close(slave)


def test_port_watcher_reports_plugging_and_unplugging() -> None:
    attached = [usb("/dev/ttyACM0", "A"), usb("/dev/ttyACM1", "B")]
    watcher = PortWatcher(lambda: list(attached))

    assert watcher.poll() == (attached, [])
    assert watcher.poll() == ([], [])

    unplugged = attached.pop(0)
    assert watcher.poll() == ([], [unplugged])
    assert watcher.current == attached

    # Another board in the freed port is a new device, not the old one back.
    replacement = usb("/dev/ttyACM1", "C")
    attached[0] = replacement
    assert watcher.poll() == ([replacement], [usb("/dev/ttyACM1", "B")])

    attached.clear()
    assert watcher.poll() == ([], [replacement])
    assert watcher.current == []


def test_port_watcher_ignores_description_changes_of_the_same_device() -> None:
    attached = [usb("/dev/ttyACM0", "A")]
    watcher = PortWatcher(lambda: list(attached))
    watcher.poll()
    attached[0] = PortInfo("/dev/ttyACM0", "A", 0x2341, 0x805A, "renamed", "nano33ble")
    assert watcher.poll() == ([], [])
