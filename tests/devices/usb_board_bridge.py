"""A bridge process with one board on a "USB" port: `python usb_board_bridge.py SERVER TOKEN`.

The board is a virtual device's pseudo-terminal, so it answers the serial protocol, but the
bridge lists it as an Arduino Nano 33 BLE on USB rather than as a virtual device: installs on
it go through ArduinoCliInstaller and the first arduino-cli on PATH (the tests' stand-in).
Everything else is the real bridge (`tinymlaas bridge` lists only real USB ports).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from tinymlaas.devices.bridge.client import Bridge
from tinymlaas.devices.bridge.discovery import PortInfo
from tinymlaas.devices.bridge.virtual import VirtualDevice

SERIAL_NUMBER = "NANO-USB-0"


def main(server: str, token: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # No model is ever loaded into it (arduino-cli is a stand-in), so its camera is never read.
    board = VirtualDevice(0, [("unused.png", b"")])
    board.start()
    usb = PortInfo(
        port=board.port,
        serial_number=SERIAL_NUMBER,
        vid=0x2341,
        pid=0x805A,
        description="Arduino Nano 33 BLE",
        board="nano33ble",
    )
    bridge = Bridge(server, token, "usb bench", list_ports=lambda: [usb])

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, bridge.stop)
        await bridge.run_forever()

    try:
        asyncio.run(run())
    finally:
        bridge.stop()
        board.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
