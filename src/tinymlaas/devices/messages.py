"""The bridge ⇄ server WebSocket messages, typed once for both sides (pure).

Every message is one JSON object whose `type` names its kind. The bridge (`bridge/client.py`)
and the server (`hub.py`) build the models below and read them through one adapter per
direction, so neither side reads a message by string key. docs/serial-protocol.md's tables of
these messages are generated from the models (`messages_doc.py`), their docstrings and field
descriptions included.

Compatibility: unknown fields are ignored, so either side may be newer. A message goes on the
wire with the fields it was given (`encode`): an optional field left out stays out, as older
peers expect.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tinymlaas.devices.message_errors import describe

# A bridge that lists this feature in its hello stops an install when sent `cancel_install`.
CANCEL_INSTALL = "cancel_install"
# A bridge that lists this feature answers `fetch_frame` (a frame kept for review).
FETCH_FRAME = "fetch_frame"
# A bridge that lists this feature runs `device_test` (serial protocol version 2 boards).
DEVICE_TEST = "device_test"
# A bridge that lists this feature captures camera frames from a board when sent `capture`.
CAPTURE = "capture"
# A bridge that lists this feature stops a running device test when sent `cancel_device_test`.
CANCEL_DEVICE_TEST = "cancel_device_test"
# What a bridge may list in its hello's `features`, and what each means.
FEATURE_MEANINGS = {
    CANCEL_INSTALL: "the bridge stops a running install when sent `cancel_install`",
    FETCH_FRAME: "the bridge answers `fetch_frame` with `review_frame` or `frame_unavailable`",
    DEVICE_TEST: "the bridge tests a model on a board when sent `device_test`",
    CAPTURE: "the bridge captures camera frames from a board when sent `capture`",
    CANCEL_DEVICE_TEST: "the bridge stops a device test when sent `cancel_device_test`",
}


class Message(BaseModel):
    """What every message has: its `type`; fields a side does not know are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


# Server → bridge


class Welcome(Message):
    """First message after the token was accepted."""

    type: Literal["welcome"] = "welcome"
    bridge_id: int


class Install(Message):
    """Install this compiled model on the board at `port`; answered by `install_log` lines and
    one `install_result`."""

    type: Literal["install"] = "install"
    job_id: int
    port: str
    board: str = Field(description="catalog id")
    model_id: str = Field(description="sha256 of `manifest.json`")
    files: dict[str, str] = Field(
        description="name → base64: `model.tflite`, `manifest.json`, `arduino_library.zip`"
        " when the compile made one, and `c_library.zip` for a model compiled with"
        ' `engine: "c"` (a virtual device runs its generated C)'
    )


class CancelInstall(Message):
    """Needs `cancel_install`. Stop that install: end the installer's command (arduino-cli and
    everything it started) or skip the virtual load if it has not happened yet. The bridge
    answers with the install's `install_result`: `cancelled` if the install was stopped, its
    real result if it had already finished. A cancel for an install the bridge is not running
    is ignored (its result has already been sent)."""

    type: Literal["cancel_install"] = "cancel_install"
    job_id: int


class CancelDeviceTest(Message):
    """Needs `cancel_device_test`. Stop that device test after the image on the board now,
    release the port and answer with its `device_test_result` (`cancelled`, `answered`)."""

    type: Literal["cancel_device_test"] = "cancel_device_test"
    job_id: int


class FetchFrame(Message):
    """Needs `fetch_frame`. Send the frame the board at `port` inferred prediction `seq` on: the
    server's capture rule kept that prediction for review. Answered by one `review_frame`, or
    `frame_unavailable` when the board cannot give that frame (any more)."""

    type: Literal["fetch_frame"] = "fetch_frame"
    port: str
    seq: int


class DeviceTest(Message):
    """Needs `device_test`. Test the model the board at `port` runs: `count` int8 input
    tensors of `input_bytes` each follow in `device_test_images` chunks; the bridge sends each
    to the board (a TENSOR frame, serial protocol version 2) and answers with
    `device_test_progress` and one `device_test_result`."""

    type: Literal["device_test"] = "device_test"
    job_id: int
    port: str
    model_id: str = Field(description="sha256 of `manifest.json`: what the board must run")
    count: int = Field(ge=0)
    input_bytes: int = Field(gt=0)
    timeout_ms: int = Field(default=2000, gt=0, description="per image")


class DeviceTestImages(Message):
    """The tensors of a `device_test` from image `first` on, in order."""

    type: Literal["device_test_images"] = "device_test_images"
    job_id: int
    first: int = Field(ge=0)
    data: str = Field(description="base64 of whole tensors, one after another")


class Capture(Message):
    """Needs `capture`. Take `count` camera frames from the board at `port` (CAPTURE, serial
    protocol version 2), `interval_ms` apart; answered by one `capture_frame` per frame and one
    `capture_result`."""

    type: Literal["capture"] = "capture"
    job_id: int
    port: str
    count: int = Field(ge=1)
    interval_ms: int = Field(default=0, ge=0)


class Revoked(Message):
    """The bridge's token was revoked; the server closes the connection and the bridge stops."""

    type: Literal["revoked"] = "revoked"


class Error(Message):
    """The server could not use a message the bridge sent and ignored it; the connection stays
    up. Why: not JSON, an unknown type, a field missing or of the wrong type; a message about a
    job (`install_*`, `device_test_*`, `capture_*`) that was not sent to this bridge or no
    longer runs; a `capture_frame` that was refused; or the server failed on it. Bridges log
    it (older ones ignore it as an unknown type)."""

    type: Literal["error"] = "error"
    detail: str = Field(description="what was wrong, naming the message type and field")


# Bridge → server


class Hello(Message):
    """First message after `welcome`."""

    type: Literal["hello"] = "hello"
    name: str = ""
    hostname: str = ""
    version: str = ""
    features: list[str] | None = Field(default=None, description="list: absent means none")


class Ping(Message):
    """Every 10 s; a bridge silent for 30 s counts as offline."""

    type: Literal["ping"] = "ping"
    dropped: dict[str, int] | None = Field(
        default=None,
        description="port → predictions the bridge dropped since its previous ping because its"
        " buffer was full (the server slow or unreachable); absent means none",
    )


class Port(Message):
    """One serial port the bridge sees and what is known about the board behind it."""

    port: str
    serial_number: str | None = None
    vid: int | None = None
    pid: int | None = None
    description: str = ""
    board: str | None = None
    virtual: bool = False


class Ports(Message):
    """Every board plugged in now (sent after each connect and each change); missing ones are
    unplugged."""

    type: Literal["ports"] = "ports"
    ports: list[Port] = []


class DeviceHello(Message):
    """A board's `HELLO`."""

    type: Literal["device_hello"] = "device_hello"
    port: str
    model_id: str
    board: str = ""
    labels: list[str] = Field(default=[], description="in output order")
    input_shape: tuple[int, int, int] = Field(
        default=(0, 0, 0), description="[width, height, channels]"
    )


class Prediction(Message):
    """A board's `PRED`."""

    type: Literal["prediction"] = "prediction"
    port: str
    seq: int = 0
    label: str
    scores: dict[str, float] = Field(description="label → score, every label")
    latency_ms: float = 0.0
    source: str | None = Field(default=None, description="null or absent means none")
    at: datetime | None = Field(
        default=None,
        description="when the bridge read it from the board (UTC); absent: when the server"
        " received it (a time ahead of the server's clock counts as the server's now)",
    )


class DeviceError(Message):
    """A board's `ERR`."""

    type: Literal["device_error"] = "device_error"
    port: str | None = None
    message: str = ""


class InstallLog(Message):
    """One line of the installer's output, as it comes."""

    type: Literal["install_log"] = "install_log"
    job_id: int
    line: str


class InstallResult(Message):
    """How the install ended. `cancelled: true` (with `ok: false`) means the install was
    stopped by a `cancel_install`; `device_state` then says in a sentence what the board holds
    now, e.g. that it was not touched and still runs its previous firmware, or that the upload
    was interrupted and it may hold a partly written firmware."""

    type: Literal["install_result"] = "install_result"
    job_id: int
    ok: bool
    output: str = Field(description="the installer's whole output")
    cancelled: bool = Field(default=False, description="only when the install was cancelled")
    device_state: str | None = Field(default=None, description="only when `cancelled` is true")


class ReviewFrame(Message):
    """The frame a `fetch_frame` asked for. The server decodes and bounds it
    (`TINYMLAAS_MAX_REVIEW_FRAME_BYTES`, the pixel limit) and re-checks the capture rule's caps
    before queueing it; a frame nobody asked for is dropped."""

    type: Literal["review_frame"] = "review_frame"
    port: str
    seq: int
    png: str = Field(description="the frame as a PNG file, base64")


class FrameUnavailable(Message):
    """The answer to a `fetch_frame` the board could not serve."""

    type: Literal["frame_unavailable"] = "frame_unavailable"
    port: str
    seq: int
    detail: str = Field(description="why, e.g. that this board cannot send frames")


class DeviceTestProgress(Message):
    """How many images of a `device_test` the board has answered so far (about twice a second)."""

    type: Literal["device_test_progress"] = "device_test_progress"
    job_id: int
    done: int
    total: int


class DeviceTestAnswer(Message):
    """What the board said about one image: `ok` with its raw int8 outputs and latency,
    `timeout` (no answer in time), `error` (its TERR message, or why the link failed) or
    `not_sent` (the board had stopped answering: `error` says after which image)."""

    status: Literal["ok", "timeout", "error", "not_sent"]
    scores: list[int] = []
    latency_us: int | None = None
    error: str | None = None


class DeviceTestResult(Message):
    """How a `device_test` ended: `ok` with one answer per image in order, or not `ok` with
    `error` (e.g. the board speaks protocol version 1 or runs another model), or `cancelled`
    by a `cancel_device_test` after `answered` images (the port is released)."""

    type: Literal["device_test_result"] = "device_test_result"
    job_id: int
    ok: bool
    error: str | None = None
    answers: list[DeviceTestAnswer] = []
    seconds: float = Field(default=0.0, description="the whole exchange over the link")
    bytes_sent: int = 0
    cancelled: bool = False
    answered: int = Field(default=0, description="only when `cancelled`: images answered")


class CaptureFrame(Message):
    """One camera frame of a `capture`, as a PNG (lossless: the board's pixels as they were).
    The server refuses, with an `error`, a frame over `TINYMLAAS_MAX_CAPTURE_FRAME_BYTES`, one
    that is not a PNG, or whose header declares another size than `width` × `height` or more
    pixels than the limit (checked before decoding); the capture goes on."""

    type: Literal["capture_frame"] = "capture_frame"
    job_id: int
    index: int = Field(ge=0)
    png: str = Field(description="base64 of the PNG")
    width: int
    height: int
    captured_at: datetime = Field(description="when the bridge received the frame (UTC)")


class CaptureResult(Message):
    """How a `capture` ended: `ok` once every frame was sent, else `error` says why."""

    type: Literal["capture_result"] = "capture_result"
    job_id: int
    ok: bool
    error: str | None = None
    frames: int = Field(default=0, description="how many `capture_frame` were sent")


ServerMessage = Annotated[
    Welcome
    | Install
    | CancelInstall
    | CancelDeviceTest
    | Revoked
    | Error
    | FetchFrame
    | DeviceTest
    | DeviceTestImages
    | Capture,
    Field(discriminator="type"),
]
BridgeMessage = Annotated[
    Hello
    | Ping
    | Ports
    | DeviceHello
    | Prediction
    | DeviceError
    | InstallLog
    | InstallResult
    | ReviewFrame
    | FrameUnavailable
    | DeviceTestProgress
    | DeviceTestResult
    | CaptureFrame
    | CaptureResult,
    Field(discriminator="type"),
]
server_messages: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)
bridge_messages: TypeAdapter[BridgeMessage] = TypeAdapter(BridgeMessage)


class InvalidMessage(ValueError):
    """A WebSocket message that is not JSON, of no known type, or lacks or mistypes a field."""


def encode(message: Message) -> str:
    """The JSON text of a message: its `type` first, then the fields it was given."""
    fields = message.model_dump(mode="json", exclude_unset=True)
    return json.dumps({"type": getattr(message, "type", None)} | fields, separators=(",", ":"))


def parse_server_message(raw: str | bytes) -> ServerMessage:
    """Read a message from the server; InvalidMessage says what is wrong with it."""
    try:
        return server_messages.validate_json(raw)
    except ValidationError as error:
        raise InvalidMessage(describe(error, raw)) from error


def parse_bridge_message(raw: str | bytes) -> BridgeMessage:
    """Read a message from a bridge; InvalidMessage says what is wrong with it."""
    try:
        return bridge_messages.validate_json(raw)
    except ValidationError as error:
        raise InvalidMessage(describe(error, raw)) from error
