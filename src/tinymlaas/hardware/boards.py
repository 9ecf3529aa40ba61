"""The catalog of boards a model can be compiled for, with their memory and USB identities.

Flash/RAM/clock figures are the vendors' published ones. What a board's memory holds besides
the model array, the tensor arena and the input buffer is split by what it is: flash reserved
outside the sketch's app partition (bootloader, partition table, other partitions), runtime code
(board core, TFLite-Micro kernels, camera driver, sketch), runtime RAM (globals, stacks, heap
bookkeeping, serial buffers) and the camera frame buffer. These are estimates (not
measurements), except the partition sizes; each carries its assumption.
"""

from dataclasses import dataclass
from typing import Any, Literal

from tinymlaas.errors import BadRequest

KiB = 1024
MiB = 1024 * KiB

# The processor core a board's firmware runs on: what the bare-metal measurement builds for
# (engine/baremetal_cores.py says which cores have an emulator) and what a latency estimate
# scales by. "host" is the machine the virtual device runs on.
CoreName = Literal[
    "cortex-m0plus",
    "cortex-m4f",
    "cortex-m7",
    "cortex-m33",
    "cortex-m55",
    "xtensa-lx6",
    "xtensa-lx7",
    "host",
]

# An OV7675 QCIF (176x144) frame as Arduino_OV767X delivers it: 1 byte/pixel gray, 2 RGB565.
_QCIF_PIXELS = 176 * 144


@dataclass(frozen=True)
class Board:
    """One board model: its MCU, memories, arduino-cli FQBN and USB identities."""

    id: str
    name: str
    mcu: str
    core: CoreName
    clock_mhz: int
    flash_bytes: int
    ram_bytes: int
    fqbn: str | None
    usb_ids: tuple[tuple[int, int], ...]
    camera: str
    # Code: board core, TFLite-Micro and its kernels, camera driver and the sketch.
    runtime_flash_bytes: int
    # Core globals, stacks, heap bookkeeping and serial buffers.
    runtime_ram_bytes: int
    # Flash the sketch cannot use: bootloader and what lies outside its app partition.
    reserved_flash_bytes: int = 0
    # The camera frame a grayscale model's sketch holds in SRAM (0 when frames live in PSRAM).
    frame_buffer_bytes: int = 0
    # Extra RAM an RGB (3-channel) model needs over a grayscale one on this board, e.g. because
    # the camera frame buffer doubles from 8-bit gray to RGB565.
    rgb_extra_ram_bytes: int = 0

    @property
    def architecture(self) -> str:
        """Return the Arduino architecture (the FQBN's second part), or "*" without an FQBN."""
        return self.fqbn.split(":")[1] if self.fqbn else "*"

    @property
    def app_flash_bytes(self) -> int:
        """The flash a sketch (runtime code and model) can occupy."""
        return self.flash_bytes - self.reserved_flash_bytes

    def frame_buffer_for(self, channels: int) -> int:
        """Return the SRAM the camera frame buffer takes for a model of `channels`."""
        return self.frame_buffer_bytes + (self.rgb_extra_ram_bytes if channels == 3 else 0)

    def as_dict(self) -> dict[str, Any]:
        """Return the public catalog fields the API serves."""
        return {
            "id": self.id,
            "name": self.name,
            "mcu": self.mcu,
            "clock_mhz": self.clock_mhz,
            "flash_bytes": self.flash_bytes,
            "ram_bytes": self.ram_bytes,
        }


class UnknownBoard(ValueError):
    """A board id that is not in the catalog."""

    def __init__(self, board_id: str) -> None:
        self.board_id = board_id
        known = ", ".join(sorted(BOARDS))
        super().__init__(f"unknown board {board_id!r}; known boards: {known}")


_CATALOG = (
    Board(
        id="nano33ble",
        name="Arduino Nano 33 BLE (Sense)",
        mcu="nRF52840 (Cortex-M4F)",
        core="cortex-m4f",
        clock_mhz=64,
        flash_bytes=1 * MiB,
        ram_bytes=256 * KiB,
        fqbn="arduino:mbed_nano:nano33ble",
        # 0x805A while a sketch runs, 0x005A in the bootloader (double-tap reset).
        usb_ids=((0x2341, 0x805A), (0x2341, 0x005A)),
        camera="OV7675 (Tiny Machine Learning Kit shield)",
        # The 64 KiB bootloader at the start of flash.
        reserved_flash_bytes=64 * KiB,
        # Estimate: mbed core (~80 KB) + TFLM with reference/CMSIS-NN kernels for a CNN
        # (~100-150 KB) + Arduino_OV767X and sketch (~20 KB).
        runtime_flash_bytes=200 * KiB,
        # Estimate: mbed OS globals, heap bookkeeping and stacks (~45 KB, an empty sketch's
        # reported globals) + serial buffers.
        runtime_ram_bytes=48 * KiB,
        # A QCIF grayscale frame (25,344 B); RGB565 doubles it.
        frame_buffer_bytes=_QCIF_PIXELS,
        rgb_extra_ram_bytes=_QCIF_PIXELS,
    ),
    Board(
        id="esp32-eye",
        name="Espressif ESP-EYE (ESP32, 4 MB flash, 8 MB PSRAM)",
        mcu="ESP32 (dual Xtensa LX6)",
        core="xtensa-lx6",
        clock_mhz=240,
        flash_bytes=4 * MiB,
        ram_bytes=520 * KiB,
        # Huge APP partitions give the sketch 3 MiB of the 4 MiB flash instead of 1.25 MiB.
        fqbn="esp32:esp32:esp32wrover:PartitionScheme=huge_app",
        # Its USB-UART bridge chip is shared by countless boards, so it identifies nothing.
        usb_ids=(),
        camera="OV2640",
        # The 1 MiB of flash outside the 3 MiB Huge APP partition.
        reserved_flash_bytes=1 * MiB,
        # Estimate: Arduino-ESP32 core (~250 KB) + TFLM (~150 KB) + esp32-camera (~50 KB).
        runtime_flash_bytes=450 * KiB,
        # Estimate: with Wi-Fi off about 300 KB of the 520 KiB SRAM remain as heap; camera
        # frames live in PSRAM, so they cost no SRAM.
        runtime_ram_bytes=520 * KiB - 300_000,
    ),
    Board(
        id="esp32-s3-eye",
        name="Espressif ESP32-S3-EYE (ESP32-S3, 8 MB flash, 8 MB octal PSRAM)",
        mcu="ESP32-S3 (dual Xtensa LX7)",
        core="xtensa-lx7",
        clock_mhz=240,
        flash_bytes=8 * MiB,
        ram_bytes=512 * KiB,
        fqbn="esp32:esp32:esp32s3:PSRAM=opi,FlashSize=8M,PartitionScheme=huge_app",
        # The ESP32-S3's built-in USB Serial/JTAG: any ESP32-S3 board matches, so a guess only.
        usb_ids=((0x303A, 0x1001),),
        camera="OV2640",
        # The 5 MiB of flash outside the 3 MiB Huge APP partition.
        reserved_flash_bytes=5 * MiB,
        # Estimate: core, TFLM (with ESP-NN kernels) and esp32-camera (~500 KB).
        runtime_flash_bytes=500 * KiB,
        # Estimate: about 320 KB of the 512 KiB SRAM remain as heap; frames live in PSRAM.
        runtime_ram_bytes=512 * KiB - 320_000,
    ),
    Board(
        id="pico",
        name="Raspberry Pi Pico (RP2040)",
        mcu="RP2040 (dual Cortex-M0+)",
        core="cortex-m0plus",
        clock_mhz=133,
        flash_bytes=2 * MiB,
        ram_bytes=264 * KiB,
        fqbn="rp2040:rp2040:rpipico",
        # 0x000A: the arduino-pico core's USB serial; 0x0003: the BOOTSEL mass-storage loader.
        usb_ids=((0x2E8A, 0x000A), (0x2E8A, 0x0003)),
        camera="none on board (user-supplied camera, e.g. Arducam HM01B0)",
        # Estimate: arduino-pico core with USB stack (~60 KB) + TFLM reference kernels (~150 KB).
        runtime_flash_bytes=210 * KiB,
        # Estimate: core globals, USB buffers and two cores' stacks (~24 KB).
        runtime_ram_bytes=24 * KiB,
        # A 160x120 grayscale frame for a typical small camera (19,200 B).
        frame_buffer_bytes=160 * 120,
        rgb_extra_ram_bytes=160 * 120,
    ),
    Board(
        id="stm32f746-disco",
        name="STM32F746G Discovery",
        mcu="STM32F746NG (Cortex-M7F)",
        core="cortex-m7",
        clock_mhz=216,
        flash_bytes=1 * MiB,
        ram_bytes=320 * KiB,
        fqbn="STMicroelectronics:stm32:Disco:pnum=DISCO_F746NG",
        # The on-board ST-LINK/V2-1's virtual COM port (also on other ST boards: a guess).
        usb_ids=((0x0483, 0x374B),),
        camera="none on board (camera connector, e.g. STM32F4DIS-CAM OV9655)",
        # Estimate: STM32duino core and HAL (~50 KB) + TFLM with CMSIS-NN kernels (~150 KB).
        runtime_flash_bytes=200 * KiB,
        # Estimate: core globals and stack (~16 KB).
        runtime_ram_bytes=16 * KiB,
        # A 160x120 grayscale frame (19,200 B).
        frame_buffer_bytes=160 * 120,
        rgb_extra_ram_bytes=160 * 120,
    ),
    Board(
        id="virtual",
        name="TinyMLaaS virtual device (TFLite-Micro on the bridge's host)",
        mcu="host CPU (TFLite-Micro Python interpreter)",
        core="host",
        # 0: not a fixed clock; the virtual device runs at the host's speed.
        clock_mhz=0,
        flash_bytes=16 * MiB,
        ram_bytes=8 * MiB,
        fqbn=None,
        usb_ids=(),
        camera="none (virtual: images from a folder or zip)",
        # The interpreter lives in the bridge process, outside these generous virtual limits.
        runtime_flash_bytes=0,
        runtime_ram_bytes=0,
    ),
)

BOARDS: dict[str, Board] = {board.id: board for board in _CATALOG}


def get_board(board_id: str) -> Board:
    """Return the catalog board with this id, or raise UnknownBoard naming the known ids."""
    try:
        return BOARDS[board_id]
    except KeyError:
        raise UnknownBoard(board_id) from None


def guess_board(vid: int, pid: int) -> Board | None:
    """Return the first catalog board a USB (VID, PID) pair belongs to, if any."""
    for board in _CATALOG:
        if (vid, pid) in board.usb_ids:
            return board
    return None


def board_or_error(board_id: str) -> Board:
    """The catalog board, or a 400 naming the known ones."""
    try:
        return get_board(board_id)
    except UnknownBoard as exc:
        raise BadRequest(str(exc)) from exc
