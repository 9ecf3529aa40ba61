"""What bench/fleet.py watches while the bridges send: the database, live views, a user, CPU."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg

POLL_SECONDS = 0.05
STUCK_SECONDS = 5.0
TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def _epoch(ts: datetime) -> float:
    return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp()


class DatabasePoller:
    """Reads new observation rows every 50 ms: a row's lag is the time of the first read that
    saw it (so committed before it, after the previous read) minus its prediction timestamp.

    Rows of concurrent transactions commit out of id order, so it reads from the highest id
    below which every id has been seen (ids skipped for good, e.g. a rollback, are given up on
    after STUCK_SECONDS)."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url.replace("postgresql+psycopg://", "postgresql://")
        self.lags: list[float] = []
        self.seen: set[int] = set()
        self.floor = 0
        self.total = 0
        self.last_seen = 0.0
        self.own_pid = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as connection:
            self.own_pid = connection.info.backend_pid
            stuck_since = time.monotonic()
            while not self.stopping.is_set():
                now = time.time()
                rows = connection.execute(
                    "SELECT id, ts FROM observations WHERE id > %s", (self.floor,)
                ).fetchall()
                floor = self.floor
                self._take(rows, now)
                if self.floor != floor or not self.seen:
                    stuck_since = time.monotonic()
                elif time.monotonic() - stuck_since > STUCK_SECONDS:
                    self.floor = min(self.seen) - 1  # give up on the missing ids below
                    self._advance()
                time.sleep(POLL_SECONDS)

    def _take(self, rows: list[tuple[int, datetime]], now: float) -> None:
        for row_id, ts in rows:
            if row_id not in self.seen:
                self.seen.add(row_id)
                self.lags.append(now - _epoch(ts))
                self.total += 1
                self.last_seen = now
        self._advance()

    def _advance(self) -> None:
        while self.floor + 1 in self.seen:
            self.floor += 1
            self.seen.discard(self.floor)

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.total < count and time.monotonic() < deadline:
            time.sleep(0.1)

    def count_rows(self, device_ids: list[int] | None = None) -> int:
        query, parameters = "SELECT count(*) FROM observations", ()
        if device_ids is not None:
            query, parameters = query + " WHERE device_id = ANY(%s)", (device_ids,)
        with psycopg.connect(self.url, autocommit=True) as connection:
            return int(connection.execute(query, parameters).fetchone()[0])  # type: ignore[index]

    def database_pids(self) -> list[int]:
        """The PostgreSQL backends serving the server's connections (not this bench's)."""
        with psycopg.connect(self.url, autocommit=True) as connection:
            rows = connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND pid <> %s",
                (self.own_pid,),
            ).fetchall()
        return [row[0] for row in rows]

    def stop(self) -> None:
        self.stopping.set()


class SseWatcher:
    """A user's live view of one device: the events of GET /devices/{id}/observe."""

    def __init__(self, api: str, token: str, device_id: int) -> None:
        self.url = f"{api}/devices/{device_id}/observe"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.lags: list[float] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        with httpx.stream("GET", self.url, headers=self.headers, timeout=None) as response:
            for line in response.iter_lines():
                if self.stopping.is_set():
                    return
                if line.startswith("data: "):
                    row = json.loads(line[6:])
                    self.lags.append(time.time() - _epoch(datetime.fromisoformat(row["ts"])))

    def stop(self) -> None:
        self.stopping.set()


class PageProbe:
    """Someone looking at a device: its API record and its hourly history, 4 times a second."""

    def __init__(self, client: httpx.Client, url: str, device_id: int) -> None:
        self.client = client
        self.device_id = device_id
        self.millis: list[float] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.25):
            started = time.perf_counter()
            self.client.get(f"/devices/{self.device_id}").raise_for_status()
            self.client.get(f"/devices/{self.device_id}/history").raise_for_status()
            self.millis.append((time.perf_counter() - started) * 1000)

    def stop(self) -> None:
        self.stopping.set()


def _process_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


CpuSnapshot = tuple[dict[int, float], dict[int, float]]


def cpu_seconds(server_pid: int, database_pids: list[int]) -> CpuSnapshot:
    """CPU seconds used so far by each process of the server and of its database backends."""
    server = {pid: _process_cpu(pid) for pid in _descendants(server_pid)}
    return server, {pid: _process_cpu(pid) for pid in database_pids}


def cpu_used(before: CpuSnapshot, after: CpuSnapshot) -> tuple[float, float]:
    """Server and database CPU seconds between two `cpu_seconds` snapshots."""
    return tuple(  # type: ignore[return-value]
        sum(now - then.get(pid, 0.0) for pid, now in current.items())
        for then, current in zip(before, after, strict=True)
    )
