"""A local worker ends with the process that started it, even without a parent-death signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Starts a grandchild that watches it the way `worker --local --parent-pid` does, with the
# parent-death signal turned off (as on macOS), then waits to be killed.
PARENT = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid())])
print(child.pid, flush=True)
time.sleep(120)
"""
CHILD = """
import sys, time
from tinymlaas.jobs import worker
worker._set_parent_death_signal = lambda signum: None
worker.exit_with_parent(int(sys.argv[1]), check_seconds=0.1)
time.sleep(120)
"""


def is_running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_parent_check_stops_a_worker_whose_parent_was_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        time.sleep(1.0)
        assert is_running(child)

        parent.kill()
        parent.wait(timeout=10)

        for _ in range(50):
            if not is_running(child):
                break
            time.sleep(0.1)
        assert not is_running(child), "the worker outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        if is_running(child):
            os.kill(child, signal.SIGKILL)
