"""Per-job worker containers (TINYMLAAS_EXECUTOR=docker): one short-lived container per job.

The API process starts `tinymlaas worker --job ID` in a container of `docker_image` through the
Docker SDK for Python (`docker.from_env()`: DOCKER_HOST or the local socket; Podman's
Docker-compatible socket works too). The container gets the database URL and the secret key
in its environment, CPU and memory limits, no host mounts, no capabilities, a read-only root
file system, and only the network `docker_network` (the one the database is on). It writes its
results into the database and exits. A monitor thread per container waits for it: when it
exits non-zero or vanishes (removed or killed outside TinyMLaaS, or the engine lost it) and its
job is still queued or running, the job is failed with the exit code and the container's last
log lines. Exit code 3 (`EXIT_NOT_RUN`) is not a failure: the container found its job already
taken by another runner or no longer queued, and left it to whoever has it. Containers are
removed once they have ended. Running containers left by a previous API process are adopted
when the executor starts.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import secrets
import signal
import threading
import time
from functools import cached_property
from types import ModuleType
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from tinymlaas.config import Settings
from tinymlaas.db.session import make_engine, make_session_factory, transaction
from tinymlaas.enums import FINISHED_STATUSES, JobStatus
from tinymlaas.errors import ConfigurationError
from tinymlaas.jobs import service
from tinymlaas.jobs.worker import EXIT_NOT_RUN
from tinymlaas.models import Job

log = logging.getLogger(__name__)

JOB_LABEL = "tinymlaas.job"
# Containers of one deployment (one database) carry the same scope: several deployments, or
# test runs, can share an engine without adopting or counting each other's containers.
SCOPE_LABEL = "tinymlaas.scope"
LOG_LINES = 20
MAX_ERROR_CHARS = 4000
WAIT_SECONDS = 30
RETRY_SECONDS = 2.0


def docker_sdk() -> ModuleType:
    """The Docker SDK for Python, imported on first use (the `deploy` extra)."""
    # importlib rather than `import docker`: the repository's own docker/ folder (Dockerfiles)
    # looks like a namespace package named `docker` to tools run from the repository root.
    sdk = importlib.import_module("docker")
    if not hasattr(sdk, "from_env"):
        raise ConfigurationError(
            "TINYMLAAS_EXECUTOR=docker needs the Docker SDK for Python:"
            " pip install 'tinymlaas[deploy]'"
        )
    return sdk


def describe_exit(exit_code: int | None) -> str:
    """How a job container ended, for the job's error: its exit code, or that it vanished."""
    if exit_code is None:
        return (
            "disappeared before the job finished"
            " (removed or killed outside TinyMLaaS, or the container engine lost it)"
        )
    text = f"exited with code {exit_code}"
    if exit_code > 128 and exit_code - 128 in signal.valid_signals():
        text += f" ({signal.Signals(exit_code - 128).name})"
    return text


class DockerExecutor:
    """Starts one `worker --job ID` container per submitted job and watches it to its end."""

    def __init__(self, settings: Settings) -> None:
        database_url = settings.docker_database_url or settings.database_url
        if not database_url or make_url(database_url).get_backend_name() == "sqlite":
            raise ConfigurationError(
                "TINYMLAAS_EXECUTOR=docker needs a database server the job containers can reach:"
                " set TINYMLAAS_DATABASE_URL (PostgreSQL or MariaDB), and"
                " TINYMLAAS_DOCKER_DATABASE_URL if the containers see it under another address"
            )
        self.settings = settings
        self.database_url = database_url
        self.scope = hashlib.sha256(settings.resolved_database_url.encode()).hexdigest()[:16]
        self._client_lock = threading.Lock()
        self._client_instance: Any = None
        self._watched: set[int] = set()
        self._watched_lock = threading.Lock()
        threading.Thread(target=self._adopt, daemon=True, name="docker-executor-adopt").start()

    def submit(self, job_id: int) -> None:
        """Start the job's container in the background; the request does not wait for it."""
        threading.Thread(
            target=self._run, args=(job_id,), daemon=True, name=f"docker-job-{job_id}"
        ).start()

    # ---- engine ------------------------------------------------------------------------------

    def _client(self) -> Any:
        with self._client_lock:
            if self._client_instance is None:
                self._client_instance = docker_sdk().from_env()
            return self._client_instance

    @cached_property
    def _factory(self) -> sessionmaker[Session]:
        return make_session_factory(make_engine(self.settings.resolved_database_url))

    def _containers(self, job_id: int | None = None, *, running_only: bool = True) -> list[Any]:
        labels = [f"{SCOPE_LABEL}={self.scope}"]
        if job_id is not None:
            labels.append(f"{JOB_LABEL}={job_id}")
        found: list[Any] = self._client().containers.list(
            all=not running_only, filters={"label": labels}
        )
        return found

    def _start(self, job_id: int) -> Any:
        settings = self.settings
        environment = {
            "TINYMLAAS_DATABASE_URL": self.database_url,
            "TINYMLAAS_JOB_HEARTBEAT_SECONDS": str(settings.job_heartbeat_seconds),
        }
        if settings.secret_key is not None:
            environment["TINYMLAAS_SECRET_KEY"] = settings.secret_key.get_secret_value()
        network: dict[str, str] = {}
        if settings.docker_network == "host":
            network["network_mode"] = "host"
        elif settings.docker_network:
            network["network"] = settings.docker_network
        return self._client().containers.run(
            settings.docker_image,
            entrypoint=["tinymlaas"],
            command=["worker", "--job", str(job_id)],
            name=f"tinymlaas-job-{job_id}-{secrets.token_hex(3)}",
            labels={JOB_LABEL: str(job_id), SCOPE_LABEL: self.scope},
            environment=environment,
            detach=True,
            nano_cpus=int(settings.docker_cpus * 1e9),
            mem_limit=settings.docker_memory,
            memswap_limit=settings.docker_memory,  # no swap beyond the memory limit
            pids_limit=1024,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            read_only=True,
            tmpfs={"/tmp": "rw,noexec,nosuid,size=512m"},
            **network,
        )

    # ---- one job's container -----------------------------------------------------------------

    def _run(self, job_id: int) -> None:
        if not self._claim_watch(job_id):
            return
        try:
            try:
                running = self._containers(job_id)
                container = running[0] if running else self._start(job_id)
            except Exception as exc:
                log.exception("could not start a container for job %s", job_id)
                self._fail_unfinished(
                    job_id,
                    f"could not start its worker container ({self.settings.docker_image}):"
                    f" {type(exc).__name__}: {exc}",
                )
                return
            self._watch(job_id, container)
        finally:
            self._release_watch(job_id)

    def _claim_watch(self, job_id: int) -> bool:
        with self._watched_lock:
            if job_id in self._watched:
                return False
            self._watched.add(job_id)
            return True

    def _release_watch(self, job_id: int) -> None:
        with self._watched_lock:
            self._watched.discard(job_id)

    def _watch(self, job_id: int, container: Any) -> None:
        """Wait for the container to end, fail its job if needed, then remove the container."""
        name = container.name
        exit_code = self._wait(job_id, container)
        logs, oom_killed = self._last_words(container)
        self._remove(container)
        if exit_code == 0:
            return
        if exit_code == EXIT_NOT_RUN:
            said = logs.splitlines()[-1] if logs else "no output"
            log.info("container %s left job %s to another runner (%s)", name, job_id, said)
            return
        reason = f"its worker container {name} " + describe_exit(exit_code)
        if oom_killed:
            reason += f": killed for exceeding its memory limit ({self.settings.docker_memory})"
        if logs:
            reason += f"\nlast log lines:\n{logs}"
        if self._containers(job_id):
            return  # another container runs this job (it was submitted twice); it reports
        self._fail_unfinished(job_id, reason[-MAX_ERROR_CHARS:])

    def _wait(self, job_id: int, container: Any) -> int | None:
        """The container's exit code; None when it vanished without one."""
        import requests.exceptions

        errors = importlib.import_module("docker.errors")
        while True:
            try:
                result = container.wait(timeout=WAIT_SECONDS)
                return int(result.get("StatusCode", -1))
            except errors.NotFound:
                return None
            except (requests.exceptions.RequestException, errors.APIError):
                pass  # still running (read timeout) or the engine is briefly unreachable
            try:
                container.reload()
            except errors.NotFound:
                return None
            except (requests.exceptions.RequestException, errors.APIError):
                # The engine does not answer. If the job ended anyway (or the lease reaper
                # failed it), stop watching; otherwise try again.
                if self._job_status(job_id) in FINISHED_STATUSES:
                    return 0
                time.sleep(RETRY_SECONDS)

    def _last_words(self, container: Any) -> tuple[str, bool]:
        """The container's last log lines and whether the kernel killed it for memory."""
        try:
            container.reload()
            oom_killed = bool(container.attrs.get("State", {}).get("OOMKilled"))
            raw: bytes = container.logs(tail=LOG_LINES)
            return raw.decode("utf-8", "replace").strip(), oom_killed
        except Exception:  # gone or unreachable: nothing more to say
            return "", False

    def _remove(self, container: Any) -> None:
        try:
            container.remove(force=True)
        except Exception as exc:  # already removed, or the engine is gone
            log.debug("could not remove container %s: %s", container.name, exc)

    # ---- the database side -------------------------------------------------------------------

    def _job_status(self, job_id: int) -> JobStatus | None:
        try:
            with self._factory() as session:
                job = session.get(Job, job_id)
                return job.status if job is not None else None
        except Exception:
            return None

    def _fail_unfinished(self, job_id: int, error: str) -> None:
        """Fail the job if it is still queued or running (a finished job keeps its outcome)."""
        try:
            with transaction(self._factory) as session:
                job = session.get(Job, job_id, with_for_update=True)
                if job is None or job.status in FINISHED_STATUSES:
                    return
                service.finish(
                    session, job, JobStatus.failed, message="worker container failed", error=error
                )
            log.warning("job %s failed: %s", job_id, error.splitlines()[0])
        except Exception:
            log.exception("could not record the failure of job %s", job_id)

    # ---- after a restart of the API ------------------------------------------------------------

    def _adopt(self) -> None:
        """Watch (or clean up after) containers a previous API process started."""
        try:
            containers = self._containers(running_only=False)
        except Exception as exc:
            log.warning("container engine unreachable, no job containers adopted: %s", exc)
            return
        for container in containers:
            try:
                job_id = int(container.labels[JOB_LABEL])
            except (KeyError, ValueError):
                continue
            if not self._claim_watch(job_id):
                continue
            threading.Thread(target=self._adopted, args=(job_id, container), daemon=True).start()

    def _adopted(self, job_id: int, container: Any) -> None:
        try:
            self._watch(job_id, container)
        finally:
            self._release_watch(job_id)
