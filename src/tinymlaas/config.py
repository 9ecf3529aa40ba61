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

    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("tinymlaas")),
        description="SQLite file and the generated secret key of the embedded default "
        "(default: the per-user data folder)",
    )
    database_url: str | None = Field(
        default=None,
        description="`postgresql://user@host/db` or `mysql://user@host/db` (MariaDB; create it "
        "with `CHARACTER SET utf8mb4`); unset: SQLite in the data folder",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="signs tokens; required (≥ 32 characters) with a database URL; unset: "
        "generated and kept in the data folder",
    )
    access_token_minutes: int = Field(default=24 * 60, description="token lifetime")
    login_max_failures: int = Field(
        default=10,
        description="failed logins per username in the window before further ones are refused "
        "(3× that per client address)",
    )
    login_window_seconds: int = Field(
        default=300, description="the window the failed logins are counted in"
    )

    admin_username: str = Field(
        default="admin", description="the administrator created when there is none"
    )
    admin_password: SecretStr | None = Field(
        default=None,
        description="that administrator's password; unset: generated and printed once",
    )

    # Requests handled at once per web process, each in a pool of this many threads; the
    # database pool holds as many connections plus a few for background work, so a handler
    # never waits for a connection another handler cannot give back (that wait deadlocked a
    # saturated server). Further requests wait for a slot, up to the queue timeout, then 503.
    # Handlers share one interpreter lock: 8 answered 50 clients as many requests per second as
    # 32 with a lower p99 (bench/api_load.py); raise it when many slow uploads run at once.
    api_threads: int = Field(
        default=8,
        ge=1,
        le=512,
        description="requests one web process handles at once (each in a thread, with a pooled "
        "connection); more wait in line",
    )
    api_queue_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description='a request still waiting in line after this gets 503 "the server is busy" '
        "(`/health` never waits)",
    )
    token_cache_seconds: float = Field(
        default=10.0,
        ge=0,
        description="a bearer token checked this recently is trusted without checking it again "
        "(0: every request); a user deleted in the database keeps access this long",
    )
    access_log: bool = Field(
        default=True,
        description="log a line per answered request (uvicorn's access log, about 0.03 ms of "
        "CPU each); off when a proxy in front logs requests anyway",
    )
    web_processes: int = Field(
        default=1,
        ge=1,
        le=64,
        description="web processes of `tinymlaas serve` (`--processes`); one per core",
    )
    db_pool_timeout_seconds: float = Field(
        default=10.0,
        description="a request that cannot get a database connection this long gets 503",
    )

    broker_url: str | None = Field(
        default=None,
        description="`redis://host:6379/0` or `amqp://user:pass@host:5672//`: jobs go to Celery "
        "workers; unset: local workers",
    )
    celery_queue: str = Field(default="tinymlaas", description="the Celery queue")
    executor: Literal["local", "celery", "docker"] | None = Field(
        default=None,
        description="`docker`: one worker container per job (see docs/production.md); unset: "
        "`local`, or `celery` with a broker",
    )
    local_workers: int = Field(
        default=1,
        ge=0,
        le=32,
        description="worker processes `tinymlaas serve` starts without a broker",
    )
    docker_image: str = Field(
        default="tinymlaas-worker:latest",
        description="with the `docker` executor: the image of the per-job worker containers",
    )
    docker_network: str | None = Field(
        default=None, description="with the `docker` executor: the containers' network"
    )
    docker_cpus: float = Field(
        default=1.0, description="with the `docker` executor: CPUs of one job's container"
    )
    docker_memory: str = Field(
        default="2g", description="with the `docker` executor: memory of one job's container"
    )
    docker_database_url: str | None = Field(
        default=None,
        description="with the `docker` executor: the database as seen from inside the "
        "containers; unset: the database URL",
    )
    job_heartbeat_seconds: float = Field(
        default=5.0, description="how often a running job renews its lease"
    )
    job_stale_seconds: float = Field(
        default=30.0,
        description="a running job whose lease is this old failed (its worker died)",
    )
    search_check_seconds: float = Field(
        default=2.0,
        gt=0,
        description="how often the serving process advances model searches whose trainings ended",
    )
    decoded_images_cache_mb: int = Field(
        default=256,
        ge=0,
        description="decoded images a worker process keeps between jobs (a search's candidates, "
        "compiling and device tests read the same images at the same sizes), in MiB; 0: off",
    )
    job_poll_seconds: float = Field(
        default=0.25,
        description="how often local workers look for queued jobs, and job event streams for "
        "events",
    )
    # Once, and with local or Celery workers only while none is busy with another job (then
    # the queue is just long).
    job_unclaimed_alert_seconds: float = Field(
        default=120.0,
        gt=0,
        description="a job queued this long with no worker busy gets a message saying what to "
        "check (no worker started, another broker or queue); counted in `/health`",
    )

    observation_batch_size: int = Field(
        default=500,
        ge=1,
        description="predictions of one bridge connection stored in one transaction at most; "
        "1 stores each in its own",
    )
    observation_flush_ms: float = Field(
        default=100.0,
        ge=0,
        description="how long a bridge connection's first queued prediction waits for more "
        "before they are stored",
    )
    observation_queue_size: int = Field(
        default=5000,
        ge=1,
        description="predictions one bridge connection holds before it stops reading the "
        "bridge's socket until they are stored (backpressure)",
    )
    observation_retention_days: float = Field(
        default=30,
        ge=0,
        description="observations older than this are deleted (their hourly aggregates stay); "
        "0 keeps them forever",
    )
    observation_retention_batch: int = Field(
        default=5000,
        ge=1,
        description="observations deleted per transaction by the retention task (at most 20 "
        "batches a run)",
    )
    observation_retention_check_seconds: float = Field(
        default=600.0,
        gt=0,
        description="how often the serving process deletes observations past their retention",
    )

    max_request_bytes: int = Field(
        default=1024 * 2**20, description="larger request bodies get 413"
    )
    max_zip_entries: int = Field(default=50_000, description="entries in one zip")
    max_zip_entry_bytes: int = Field(
        default=50 * 2**20, description="uncompressed size of one zip entry"
    )
    max_zip_total_bytes: int = Field(
        default=4 * 2**30, description="uncompressed size of a whole zip"
    )
    max_zip_compression_ratio: float = Field(
        default=100.0,
        description="uncompressed / compressed size, per zip entry over 1 MiB",
    )
    max_image_pixels: int = Field(default=25_000_000, description="width × height of one image")
    max_model_import_bytes: int = Field(
        default=16 * 2**20,
        description="size of a model file given to `POST /models/import` (.tflite or .keras)",
    )
    max_import_tensor_bytes: int = Field(
        default=16 * 2**20,
        description="size of any one tensor of an imported .tflite (shape × element size)",
    )
    review_queue_max: int = Field(
        default=1000,
        ge=1,
        description="frames waiting in one dataset's review queue; devices keep no more",
    )
    max_review_frame_bytes: int = Field(
        default=2 * 2**20, ge=1024, description="size of one frame a bridge sends for review"
    )
    max_capture_frame_bytes: int = Field(
        default=2 * 2**20, ge=1024, description="size of one PNG frame a bridge sends of a capture"
    )

    weights_dir: Path | None = Field(
        default=None,
        description="the pretrained weights cache: Keras's ImageNet files, downloaded once by "
        "a worker or put there with `tinymlaas weights import`; share it between the API and "
        "the workers (default: `weights` in the data folder)",
    )
    weights_download: bool = Field(
        default=True,
        description="workers download missing ImageNet weights from Keras's storage; turn off "
        "where the internet is unreachable, so requests for uncached weights are refused",
    )
    max_weights_upload_bytes: int = Field(
        default=64 * 2**20,
        description="size of a base model's HDF5 file given to `POST /weights`",
    )

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

    @property
    def resolved_weights_dir(self) -> Path:
        return self.weights_dir or self.data_dir / "weights"

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
