"""Observations at fleet rate: N simulated bridges × M boards against `tinymlaas serve`.

Starts `tinymlaas serve --processes 2` on a scratch PostgreSQL database, registers N bridges and
starts each as its own process (bench/fleet_bridge.py: real WebSockets, the real bridge
messages), every board predicting --rate times a second for --seconds. Meanwhile it watches
the database (a poller reads new rows every 50 ms: the lag from a prediction's timestamp to
its row being visible, i.e. committed), follows a few devices' live SSE views, and asks for a
device's history and page as a user would. It reports observations stored per second, lag
p50/p99, what the SSE views received, server + PostgreSQL CPU per 1,000 observations, and the
rows counted against what the bridges sent.

Run twice side by side: the one-row-per-transaction path (TINYMLAAS_OBSERVATION_BATCH_SIZE=1)
and the batched default. Goal (issue 15): >= 2,000 observations/s with p99 lag < 1 s.

    .venv/bin/python bench/fleet.py [--bridges 4] [--devices 25] [--rate 25] [--seconds 20]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from datasets_import_export import ADMIN_PASSWORD, SECRET_KEY, load_average, scratch_database
from fleet_watch import DatabasePoller, PageProbe, SseWatcher, cpu_seconds, cpu_used, percentile
from server_process import free_port, wait_until_up

BRIDGE = Path(__file__).parent / "fleet_bridge.py"
PHASES = (("one row per transaction", "1"), ("batched", None))


@dataclass
class Phase:
    name: str
    sent: int = 0
    dropped: int = 0
    stored: int = 0
    seconds: float = 0.0
    lags: list[float] = field(default_factory=list)
    sse_received: int = 0
    sse_stored: int = 0
    sse_lags: list[float] = field(default_factory=list)
    page_ms: list[float] = field(default_factory=list)
    server_cpu: float = 0.0
    database_cpu: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.stored / self.seconds if self.seconds else 0.0

    def cpu_ms_per_1000(self, which: float) -> float:
        return which * 1e6 / self.stored if self.stored else 0.0


def start_server(
    work: Path, database_url: str, port: int, batch: str | None
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYMLAAS_")}
    env |= {
        "TINYMLAAS_DATABASE_URL": database_url,
        "TINYMLAAS_SECRET_KEY": SECRET_KEY,
        "TINYMLAAS_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "TINYMLAAS_DATA_DIR": str(work),
        "TINYMLAAS_LOCAL_WORKERS": "0",
    }
    if batch is not None:
        env["TINYMLAAS_OBSERVATION_BATCH_SIZE"] = batch
    log = open(work / "server.log", "ab")  # noqa: SIM115 - the child keeps it
    command = [sys.executable, "-m", "tinymlaas", "serve", "--port", str(port), "--processes", "2"]
    return subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL to its process group (its worker processes) if it lingers: open
    live views keep uvicorn's graceful shutdown waiting."""
    server.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=10)


def start_bridges(
    arguments: argparse.Namespace, work: Path, url: str, tokens: list[str], start_at: float
) -> list[tuple[subprocess.Popen[bytes], Path]]:
    started = []
    for index, token in enumerate(tokens):
        out = work / f"bridge-{index}.json"
        command = [
            sys.executable, str(BRIDGE), "--url", url, "--token", token, "--name", f"b{index}",
            "--devices", str(arguments.devices), "--rate", str(arguments.rate),
            "--seconds", str(arguments.seconds), "--start-at", str(start_at), "--out", str(out),
        ]  # fmt: skip
        started.append((subprocess.Popen(command), out))
    return started


def run_phase(arguments: argparse.Namespace, work: Path, name: str, batch: str | None) -> Phase:
    phase = Phase(name)
    with scratch_database("postgresql", work) as database_url:
        port = free_port()
        server = start_server(work, database_url, port, batch)
        try:
            measure(arguments, phase, work, database_url, f"http://127.0.0.1:{port}", server)
        finally:
            stop_server(server)
    return phase


def measure(
    arguments: argparse.Namespace,
    phase: Phase,
    work: Path,
    database_url: str,
    url: str,
    server: subprocess.Popen[bytes],
) -> None:
    api = f"{url}/api/v1"
    wait_until_up(f"{api}/health", server)
    token = httpx.post(
        f"{api}/auth/token", data={"username": "admin", "password": ADMIN_PASSWORD}
    ).json()["access_token"]
    client = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    tokens = [
        client.post("/bridges", json={"name": f"b{index}"}).json()["token"]
        for index in range(arguments.bridges)
    ]
    start_at = time.time() + 8
    bridges = start_bridges(arguments, work, url, tokens, start_at)
    expected = arguments.bridges * arguments.devices
    while len(devices := client.get("/devices").json()["items"]) < expected:
        time.sleep(0.2)
    watched = [device["id"] for device in devices[: arguments.sse_devices]]
    watchers = [SseWatcher(api, token, device_id) for device_id in watched]
    poller = DatabasePoller(database_url)
    probe = PageProbe(client, url, devices[0]["id"])
    for worker in (*watchers, poller, probe):
        threading.Thread(target=worker.run, daemon=True).start()
    time.sleep(max(0.0, start_at - time.time()))
    before = cpu_seconds(server.pid, poller.database_pids())
    for process, _ in bridges:
        process.wait(timeout=arguments.seconds + 300)
    results = [json.loads(out.read_text()) for _, out in bridges]
    phase.sent = sum(result["sent"] for result in results)
    phase.dropped = sum(result["dropped"] for result in results)
    phase.errors = [error for result in results for error in result["errors"]]
    poller.wait_for(phase.sent, timeout=60)
    after = cpu_seconds(server.pid, poller.database_pids())
    phase.server_cpu, phase.database_cpu = cpu_used(before, after)
    phase.sse_stored = poller.count_rows(watched)
    deadline = time.monotonic() + 20  # the live views are polled: let them catch up
    while sum(len(w.lags) for w in watchers) < phase.sse_stored and time.monotonic() < deadline:
        time.sleep(0.1)
    for worker in (*watchers, poller, probe):
        worker.stop()
    phase.stored = poller.count_rows()
    phase.seconds = poller.last_seen - start_at
    phase.lags = poller.lags
    phase.sse_received = sum(len(watcher.lags) for watcher in watchers)
    phase.sse_lags = [lag for watcher in watchers for lag in watcher.lags]
    phase.page_ms = probe.millis


def pair(values: list[float], scale: float) -> str:
    return f"{percentile(values, 50) * scale:,.0f} / {percentile(values, 99) * scale:,.0f}"


def report(arguments: argparse.Namespace, phases: list[Phase]) -> None:
    offered = arguments.bridges * arguments.devices * arguments.rate
    print(
        f"\n{arguments.bridges} bridges × {arguments.devices} boards × {arguments.rate:g}/s ="
        f" {offered:,.0f} predictions/s offered for {arguments.seconds:g} s\n"
    )
    rows = [
        ("observations stored/s", lambda p: f"{p.rate:,.0f}"),
        ("lag p50 / p99 (ms)", lambda p: pair(p.lags, 1000)),
        ("sent / stored / dropped", lambda p: f"{p.sent:,} / {p.stored:,} / {p.dropped:,}"),
        ("SSE received / stored", lambda p: f"{p.sse_received:,} / {p.sse_stored:,}"),
        ("SSE lag p50 / p99 (ms)", lambda p: pair(p.sse_lags, 1000)),
        ("server CPU ms / 1,000 obs", lambda p: f"{p.cpu_ms_per_1000(p.server_cpu):,.0f}"),
        ("PostgreSQL CPU ms / 1,000 obs", lambda p: f"{p.cpu_ms_per_1000(p.database_cpu):,.0f}"),
        ("device + history p50 / p99 (ms)", lambda p: pair(p.page_ms, 1)),
    ]
    print(f"{'':34}" + "".join(f"{phase.name:>28}" for phase in phases))
    for label, cell in rows:
        print(f"{label:34}" + "".join(f"{cell(phase):>28}" for phase in phases))
    baseline, batched = phases
    if baseline.rate:
        print(f"\nbatched / one row per transaction: {batched.rate / baseline.rate:.1f}× stored/s")
    goal = (
        batched.rate >= 2000 and percentile(batched.lags, 99) < 1 and batched.stored == batched.sent
    )
    print(f"goal (>= 2,000/s, p99 lag < 1 s, nothing lost): {'met' if goal else 'NOT met'}")
    for phase in phases:
        if phase.errors:
            print(f"{phase.name}: server errors: {phase.errors}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bridges", type=int, default=4)
    parser.add_argument("--devices", type=int, default=25, help="boards per bridge")
    parser.add_argument("--rate", type=float, default=25.0, help="predictions/s per board")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--sse-devices", type=int, default=2, help="devices followed live")
    parser.add_argument("--only", choices=("baseline", "batched"), help="run one phase")
    arguments = parser.parse_args()
    print(f"Load average before: {load_average()} (on {os.cpu_count()} CPUs)", flush=True)
    phases = []
    for name, batch in PHASES:
        if arguments.only and (arguments.only == "batched") != (batch is None):
            continue
        with tempfile.TemporaryDirectory(prefix="tinymlaas-fleet-") as temporary:
            phases.append(run_phase(arguments, Path(temporary), name, batch))
        print(f"{name}: done ({phases[-1].stored:,} rows)", flush=True)
    if len(phases) == 2:
        report(arguments, phases)
    else:
        report(arguments, [Phase("(not run)"), *phases])
    print(f"\nLoad average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
