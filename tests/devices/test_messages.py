"""The bridge ⇄ server WebSocket messages: what each side reads and what goes on the wire."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tinymlaas.devices import messages


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # What older bridges and the tests send: optional fields absent.
        ({"type": "hello", "hostname": "lab-pc", "version": "0.9"}, messages.Hello),
        ({"type": "ping"}, messages.Ping),
        ({"type": "ports"}, messages.Ports),
        (
            {"type": "device_hello", "port": "/dev/ttyACM0", "model_id": "none"},
            messages.DeviceHello,
        ),
        (
            {"type": "prediction", "port": "p", "label": "cat", "scores": {"cat": 1}},
            messages.Prediction,
        ),
        ({"type": "device_error"}, messages.DeviceError),
        ({"type": "install_log", "job_id": 3, "line": "x"}, messages.InstallLog),
        ({"type": "install_result", "job_id": 3, "ok": True, "output": ""}, messages.InstallResult),
    ],
)
def test_bridge_messages_with_their_optional_fields_left_out_are_read(
    raw: dict[str, Any], expected: type[messages.Message]
) -> None:
    message = messages.parse_bridge_message(json.dumps(raw))
    assert type(message) is expected
    assert json.loads(messages.encode(message)) == raw  # and go back out unchanged


def test_defaults_are_those_the_server_always_applied() -> None:
    hello = messages.parse_bridge_message('{"type": "hello"}')
    assert isinstance(hello, messages.Hello)
    assert (hello.name, hello.hostname, hello.version, hello.features) == ("", "", "", None)
    device = messages.parse_bridge_message('{"type": "device_hello", "port": "p", "model_id": "m"}')
    assert isinstance(device, messages.DeviceHello)
    assert (device.board, device.labels, device.input_shape) == ("", [], (0, 0, 0))
    prediction = messages.parse_bridge_message(
        '{"type": "prediction", "port": "p", "label": "a", "scores": {"a": 1}}'
    )
    assert isinstance(prediction, messages.Prediction)
    assert (prediction.seq, prediction.latency_ms, prediction.source) == (0, 0.0, None)
    ports = messages.parse_bridge_message('{"type": "ports", "ports": [{"port": "/dev/x"}]}')
    assert isinstance(ports, messages.Ports)
    assert ports.ports == [
        messages.Port(
            port="/dev/x",
            serial_number=None,
            vid=None,
            pid=None,
            description="",
            board=None,
            virtual=False,
        )
    ]
    result = messages.parse_bridge_message(
        '{"type": "install_result", "job_id": 1, "ok": false, "output": "o"}'
    )
    assert isinstance(result, messages.InstallResult)
    assert (result.cancelled, result.device_state) == (False, None)


def test_unknown_fields_are_ignored_so_either_side_may_be_newer() -> None:
    message = messages.parse_server_message(
        '{"type": "cancel_install", "job_id": 4, "reason": "the user asked", "v": 2}'
    )
    assert message == messages.CancelInstall(job_id=4)


def test_the_wire_json_is_what_each_side_always_sent() -> None:
    install = messages.Install(
        job_id=5, port="/dev/pts/3", board="virtual", model_id="ab", files={}
    )
    assert json.loads(messages.encode(install)) == {
        "type": "install",
        "job_id": 5,
        "port": "/dev/pts/3",
        "board": "virtual",
        "model_id": "ab",
        "files": {},
    }
    assert messages.encode(messages.CancelInstall(job_id=5)) == (
        '{"type":"cancel_install","job_id":5}'
    )
    assert messages.encode(messages.Revoked()) == '{"type":"revoked"}'
    # An install's result carries `cancelled` and `device_state` only when it was cancelled.
    done = messages.InstallResult(job_id=5, ok=True, output="done")
    assert json.loads(messages.encode(done)) == {
        "type": "install_result",
        "job_id": 5,
        "ok": True,
        "output": "done",
    }
    prediction = messages.Prediction(
        port="p", seq=1, label="a", scores={"a": 1.0}, latency_ms=2.5, source=None
    )
    assert json.loads(messages.encode(prediction))["source"] is None  # sent, as null
    hello = messages.DeviceHello(
        port="p", model_id="m", board="virtual", labels=["a"], input_shape=(96, 96, 1)
    )
    assert json.loads(messages.encode(hello))["input_shape"] == [96, 96, 1]
    assert messages.parse_server_message(messages.encode(install)) == install


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("{", "not a JSON message: EOF while parsing an object at line 1 column 1"),
        ("[1, 2]", "invalid message: Input should be an object"),
        ('{"port": "p"}', 'a message must be a JSON object with a "type"'),
        (
            '{"type": "reboot"}',
            "unknown message type 'reboot' (known: 'hello', 'ping', 'ports', 'device_hello',"
            " 'prediction', 'device_error', 'install_log', 'install_result', 'review_frame',"
            " 'frame_unavailable',"
            " 'device_test_progress', 'device_test_result', 'capture_frame', 'capture_result')",
        ),
        (
            '{"type": "install_result", "job_id": 1}',
            "invalid 'install_result' message: ok: Field required; output: Field required",
        ),
        (
            '{"type": "prediction", "port": "p", "label": "a", "scores": {"a": "high"}}',
            "invalid 'prediction' message: scores.a: Input should be a valid number,"
            " unable to parse string as a number",
        ),
        (
            '{"type": "device_hello", "port": "p", "model_id": "m", "input_shape": [1, 2]}',
            "invalid 'device_hello' message: input_shape.2: Field required",
        ),
        (
            '{"type": "hello", "features": "cancel_install"}',
            "invalid 'hello' message: features: Input should be a valid array",
        ),
    ],
)
def test_an_invalid_bridge_message_is_refused_naming_what_is_wrong(raw: str, detail: str) -> None:
    with pytest.raises(messages.InvalidMessage) as refused:
        messages.parse_bridge_message(raw)
    assert str(refused.value) == detail


def test_the_server_messages_are_those_the_bridge_knows() -> None:
    with pytest.raises(messages.InvalidMessage, match="unknown message type 'hello'"):
        messages.parse_server_message('{"type": "hello"}')
    error = messages.parse_server_message('{"type": "error", "detail": "bad"}')
    assert error == messages.Error(detail="bad")
