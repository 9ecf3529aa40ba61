"""Settings from the environment (prefix TINYMLAAS_), one object for every process."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting has a default that runs the embedded (single machine, SQLite) service."""

    model_config = SettingsConfigDict(env_prefix="TINYMLAAS_", env_file=None, extra="ignore")

    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("tinymlaas")))
    database_url: str | None = None
    secret_key: SecretStr | None = None
    access_token_minutes: int = 24 * 60
    login_max_failures: int = 10  # per username, and 3× that per client address
    login_window_seconds: int = 300

    admin_username: str = "admin"
    admin_password: SecretStr | None = None

    # Requests handled at once per web process, each in a pool of this many threads; the
    # database pool holds as many connections plus a few for background work, so a handler
    # never waits for a connection another handler cannot give back (that wait deadlocked a
    # saturated server). Further requests wait for a slot, up to the queue timeout, then 503.
    # Handlers share one interpreter lock: 8 answered 50 clients as many requests per second as
    # 32 with a lower p99 (bench/api_load.py); raise it when many slow uploads run at once.
    api_threads: int = Field(default=8, ge=1, le=512)
    api_queue_timeout_seconds: float = Field(default=30.0, gt=0)
    # A bearer token seen this recently is trusted without checking it and its user again
    # (0 checks every request); a user deleted in the database keeps access this long.
    token_cache_seconds: float = Field(default=10.0, ge=0)
    web_processes: int = Field(default=1, ge=1, le=64)
    db_pool_timeout_seconds: float = 10.0

    broker_url: str | None = None
    celery_queue: str = "tinymlaas"
    executor: Literal["local", "celery", "docker"] | None = None
    local_workers: int = Field(default=1, ge=0, le=32)
    # TINYMLAAS_EXECUTOR=docker: one short-lived worker container per job.
    docker_image: str = "tinymlaas-worker:latest"
    docker_network: str | None = None
    docker_cpus: float = 1.0
    docker_memory: str = "2g"
    docker_database_url: str | None = None  # the database as seen from inside the containers
    job_heartbeat_seconds: float = 5.0
    job_stale_seconds: float = 30.0
    job_poll_seconds: float = 0.25
    # A training or compiling job still queued this long gets a message saying what to check
    # (no worker started, another broker or queue) and an event, once; with local or Celery
    # workers only while none is busy with another job (then the queue is just long).
    # GET /health counts the queued jobs waiting longer than this.
    job_unclaimed_alert_seconds: float = Field(default=120.0, gt=0)

    max_request_bytes: int = 1024 * 2**20
    max_zip_entries: int = 50_000
    max_zip_entry_bytes: int = 50 * 2**20
    max_zip_total_bytes: int = 4 * 2**30
    max_zip_compression_ratio: float = 100.0
    max_image_pixels: int = 25_000_000

    @property
    def is_embedded(self) -> bool:
        """True when running on the embedded SQLite default (no external database configured)."""
        return self.database_url is None

    @property
    def resolved_executor(self) -> str:
        """Celery when a broker is configured, else local worker processes."""
        if self.executor:
            return self.executor
        return "celery" if self.broker_url else "local"

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{self.data_dir / 'tinymlaas.db'}"

    @property
    def db_pool_size(self) -> int:
        return self.api_threads + 8


def normalize_database_url(url: str) -> str:
    """Pick the drivers this project ships for the plain scheme names people write."""
    for plain, with_driver in (
        ("postgresql://", "postgresql+psycopg://"),
        ("postgres://", "postgresql+psycopg://"),
        ("mysql://", "mysql+pymysql://"),
        ("mariadb://", "mysql+pymysql://"),
    ):
        if url.startswith(plain):
            return with_driver + url[len(plain) :]
    return url
