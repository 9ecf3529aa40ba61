"""Starting TinyMLaaS worker processes from tests, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys

from tinymlaas.config import Settings

from conftest import SECRET_KEY


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINYMLAAS_")}
    env |= {
        "TINYMLAAS_DATABASE_URL": str(settings.database_url),
        "TINYMLAAS_SECRET_KEY": SECRET_KEY,
        "TINYMLAAS_DATA_DIR": str(settings.data_dir),
        "TINYMLAAS_JOB_HEARTBEAT_SECONDS": "1",
        "TINYMLAAS_JOB_STALE_SECONDS": "6",
        "TINYMLAAS_JOB_POLL_SECONDS": "0.2",
    }
    return env | extra


def start_worker(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tinymlaas", "worker", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
