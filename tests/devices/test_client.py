"""The bridge process against a stand-in server on a real WebSocket."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from tinymlaas.devices.bridge.cancellation import Cancellation
from tinymlaas.devices.bridge.client import Bridge, websocket_url


def test_the_bridge_logs_invalid_server_messages_and_keeps_its_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Garbage, an unknown type, an install missing its fields and an error are logged; the
    bridge stays on the same connection and still obeys the server's next message."""
    connections: list[list[dict[str, Any]]] = []
    install = Cancellation()  # as if the bridge were running install job 7

    async def server(connection: ServerConnection) -> None:
        received: list[dict[str, Any]] = []
        connections.append(received)
        await connection.send(json.dumps({"type": "welcome", "bridge_id": 1}))
        received += [json.loads(await connection.recv()) for _ in range(2)]  # hello, ports
        await connection.send("<html>not JSON</html>")
        await connection.send(json.dumps({"type": "reboot_everything"}))
        await connection.send(json.dumps({"type": "install", "job_id": 7}))
        await connection.send(json.dumps({"type": "error", "detail": "job_id: Field required"}))
        await connection.send(json.dumps({"type": "cancel_install", "job_id": 7}))
        for _ in range(200):
            if install.requested:
                break
            await asyncio.sleep(0.05)
        bridge.stop()
        await connection.wait_closed()

    async def run() -> None:
        async with serve(server, "127.0.0.1", 0) as websocket_server:
            port = websocket_server.sockets[0].getsockname()[1]
            bridge.url = websocket_url(f"http://127.0.0.1:{port}")
            await asyncio.wait_for(bridge.run_forever(), 20)

    bridge = Bridge("http://127.0.0.1", "tmlb_token", "bench", list_ports=list)
    bridge.installs[7] = install
    with caplog.at_level(logging.INFO, logger="tinymlaas.devices.bridge.client"):
        asyncio.run(run())
    assert install.requested  # the cancel after the bad messages still reached the install
    assert len(connections) == 1  # never dropped and reconnected
    hello, ports = connections[0]
    assert (hello["type"], hello["name"], hello["features"]) == (
        "hello",
        "bench",
        ["cancel_install", "fetch_frame", "device_test", "capture", "cancel_device_test"],
    )
    assert ports == {"type": "ports", "ports": []}
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 4
    assert warnings[0].startswith("ignoring a message from the server: not a JSON message")
    assert warnings[1].startswith(
        "ignoring a message from the server: unknown message type 'reboot_everything'"
    )
    assert warnings[2] == (
        "ignoring a message from the server: invalid 'install' message: port: Field required;"
        " board: Field required; model_id: Field required; files: Field required"
    )
    assert warnings[3] == (
        "the server could not use a message from this bridge: job_id: Field required"
    )
