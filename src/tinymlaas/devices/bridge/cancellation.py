"""Cancelling an install from another thread: a flag, and stopping the command it runs.

Commands run in a session of their own (`start_new_session`), so that stopping one reaches
everything it started: arduino-cli runs compilers and uploaders as its children, and a child
left alive would keep the output pipe open and the install waiting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

# How long a cancelled command (and its children) may take to exit after SIGTERM before SIGKILL.
STOP_GRACE_SECONDS = 2.0
# Windows has no SIGKILL; signal_group then kills the command alone.
KILL = getattr(signal, "SIGKILL", signal.SIGTERM)


class Cancellation:
    """Lets another thread cancel an install: marks it cancelled and stops the command it runs.

    The installer checks `requested` between its steps and registers each command it starts
    (`running`); `cancel` ends that command's whole process group.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requested = False
        self._process: subprocess.Popen[str] | None = None

    @property
    def requested(self) -> bool:
        with self._lock:
            return self._requested

    def cancel(self) -> None:
        """Ask the install to stop; returns at once (the command is stopped in the background)."""
        with self._lock:
            self._requested = True
            process = self._process
        if process is not None:
            stop_process(process)

    @contextmanager
    def running(self, process: subprocess.Popen[str]) -> Iterator[None]:
        """Stop `process` if the install is cancelled while it runs (or already was)."""
        with self._lock:
            self._process = process
            requested = self._requested
        if requested:
            stop_process(process)
        try:
            yield
        finally:
            with self._lock:
                self._process = None


def signal_group(process: subprocess.Popen[str], signum: int) -> None:
    """Send a signal to a command started in its own session, and to all its children."""
    with suppress(ProcessLookupError, PermissionError):
        if os.name == "posix":
            os.killpg(process.pid, signum)
        elif signum == signal.SIGTERM:
            process.terminate()
        else:
            process.kill()


def kill_process(process: subprocess.Popen[str]) -> None:
    """Kill a command and its children at once."""
    signal_group(process, KILL)


def stop_process(process: subprocess.Popen[str]) -> None:
    """SIGTERM a command's process group now, SIGKILL it if it lingers (without waiting here)."""
    signal_group(process, signal.SIGTERM)
    timer = threading.Timer(STOP_GRACE_SECONDS, kill_process, (process,))
    timer.daemon = True
    timer.start()
