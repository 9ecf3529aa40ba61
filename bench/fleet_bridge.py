"""One simulated bridge of bench/fleet.py: a real WebSocket, the real bridge messages, M boards.

Not the virtual TFLite-Micro boards (they would measure the model): each simulated board
"predicts" at a set rate, and the predictions go through the bridge's own bounded outbox
(`tinymlaas.devices.bridge.outbox`), so a slow server makes this bridge drop and count them as
a real one would. Writes what it sent and dropped as JSON to `--out`.

    python bench/fleet_bridge.py --url http://127.0.0.1:8000 --token tmlb_… --name b0 \
        --devices 25 --rate 20 --seconds 20 --start-at 1764620000.0 --out b0.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import websockets

from tinymlaas.devices import messages
from tinymlaas.devices.bridge.client import OUTBOX_SIZE, websocket_url
from tinymlaas.devices.bridge.outbox import Outbox

LABELS = ("person", "no_person", "unknown")
TICK_SECONDS = 0.01


def ports_message(name: str, ports: list[str]) -> messages.Ports:
    return messages.Ports(
        ports=[
            messages.Port(port=port, serial_number=f"{name}{port}", board="nano33ble")
            for port in ports
        ]
    )


def prediction(port: str, seq: int, rng: random.Random) -> messages.Prediction:
    top = rng.uniform(0.5, 1.0)
    label = rng.choice(LABELS)
    scores = {name: round(top if name == label else (1 - top) / 2, 4) for name in LABELS}
    return messages.Prediction(
        port=port,
        seq=seq,
        label=label,
        scores=scores,
        latency_ms=round(rng.uniform(20, 40), 2),
        at=datetime.now(UTC),
    )


async def generate(outbox: Outbox, ports: list[str], rate: float, seconds: float) -> int:
    """Every board predicts `rate` times a second for `seconds`; how many were made."""
    rng = random.Random(ports[0])
    seqs = dict.fromkeys(ports, 0)
    made = 0
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * rate * len(ports)) - made
        for _ in range(due):
            port = ports[made % len(ports)]
            outbox.put(prediction(port, seqs[port], rng))
            seqs[port] += 1
            made += 1
        await asyncio.sleep(TICK_SECONDS)
    return made


async def send(connection: websockets.ClientConnection, outbox: Outbox, sent: list[int]) -> None:
    while True:
        message = await outbox.get()
        await connection.send(messages.encode(message))
        sent[0] += 1


async def listen(connection: websockets.ClientConnection, errors: list[str]) -> None:
    async for raw in connection:
        message = messages.parse_server_message(raw)
        if isinstance(message, messages.Error):
            errors.append(message.detail)


async def run(arguments: argparse.Namespace) -> dict[str, object]:
    outbox = Outbox(arguments.buffer)
    ports = [f"/dev/sim{index}" for index in range(arguments.devices)]
    sent, errors = [0], []
    async with websockets.connect(
        websocket_url(arguments.url),
        additional_headers={"Authorization": f"Bearer {arguments.token}"},
        max_size=2**24,
    ) as connection:
        welcome = messages.parse_server_message(await connection.recv())
        assert isinstance(welcome, messages.Welcome), welcome
        hello = messages.Hello(name=arguments.name, hostname="bench", version="bench", features=[])
        await connection.send(messages.encode(hello))
        await connection.send(messages.encode(ports_message(arguments.name, ports)))
        listener = asyncio.create_task(listen(connection, errors))
        await asyncio.sleep(max(0.0, arguments.start_at - time.time()))
        sender = asyncio.create_task(send(connection, outbox, sent))
        made = await generate(outbox, ports, arguments.rate, arguments.seconds)
        dropped_total = sum(outbox.dropped.values())
        while sent[0] + dropped_total < made:
            await asyncio.sleep(0.05)
        sender.cancel()
        await connection.send(messages.encode(outbox.ping()))
        # Any message but a ping waits for the predictions before it: the last one is stored.
        await connection.send(messages.encode(ports_message(arguments.name, ports)))
        await asyncio.sleep(1.0)
        listener.cancel()
    return {"made": made, "sent": sent[0], "dropped": dropped_total, "errors": errors[:5]}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True, help="predictions/s per device")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--start-at", type=float, required=True, help="epoch seconds")
    parser.add_argument("--buffer", type=int, default=OUTBOX_SIZE, help="outbox size")
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args()
    result = asyncio.run(run(arguments))
    arguments.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
